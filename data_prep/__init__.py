"""Dataset preparation: importers, the procedural default set, the text encoder build."""
