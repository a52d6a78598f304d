"""Teaching: the student handout generated from the solution notebooks, and the autograder."""
