"""Errors a user can cause, which the CLI reports as one line (`livo: ...`)."""


class TrainingError(RuntimeError):
    pass


class EvalError(ValueError):
    pass
