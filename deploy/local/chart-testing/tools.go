//go:build tools

// Package tools pins chart-testing (ct), built by scripts/install-tools.sh chart-testing:
// `go build github.com/helm/chart-testing/v3/ct` with this module's go.sum.
package tools

import _ "github.com/helm/chart-testing/v3/ct/cmd"
