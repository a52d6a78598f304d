"""What the notebooks show, and the papermill runner that executes them."""
