"""What the study is: the runs, their settings, where files go, where model and data come from."""
