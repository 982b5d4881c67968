"""What `vm translate` shows: the side-by-side view, --verify's table and the supported-forms
listing (the command's tables and the docs' lists). Directions are reached through the registry."""
