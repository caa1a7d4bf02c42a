"""What a person sees: console messages, image files and grids, plots."""
