"""Training callbacks: periodic kNN / linear-probe evaluation and the run report."""
