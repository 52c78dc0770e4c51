"""Protocol presets: the field's published results with their recipes, mapped onto bench runs."""
