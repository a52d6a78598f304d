"""helpers: the machinery behind the notebooks of the PEFT-on-T5 study.

Subpackages, from the bottom up (each imports only those above it in this list):
  study     what the study is: runs, settings, where files go, results files, model/data sources
  data      reviews in, token ids and batches out (IMDB, local copies, the synthetic corpus)
  models    the T5 backbones: hub / MODEL_PATH, the tiny offline T5, bare architectures
  methods   the parameter-efficient methods, from scratch and through their libraries
  training  the loop in named steps, evaluation, checkpoints, one run end to end
  notebook  what the notebooks display, and the papermill runner
  teaching  the student handout made from the solution notebooks, and the grader
  report    tables and figures from the results files, the PDF
  tools     the command line, parameter tables, the benchmark
"""


class UserError(Exception):
    """Bad input or a missing resource: the message names the problem and the fix, and the
    command line prints it as one line (tracebacks with --debug)."""
