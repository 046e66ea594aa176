"""Reports: report.json (the source of truth), report.md, the terminal table, and the richer views."""
