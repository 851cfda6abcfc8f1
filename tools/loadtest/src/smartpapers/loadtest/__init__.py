"""``smartpapers-loadtest``: real HTTP submissions against a running smartpapers API, with a
summary, a JSON result and a PNG report; ``smartpapers-loadtest bench`` runs the local
benchmark on its own stack."""
