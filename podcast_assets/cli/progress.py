"""What `podcast-assets train` shows while it runs: one line per message the assets log (progress, warnings),
never Dagster's own events or tracebacks; those stay in the run's event log, which the UI shows, and
`--verbose` prints them too."""

from __future__ import annotations

import logging
import sys

import dagster as dg

_STEP_OUTCOMES = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}


def _event_type(record: logging.LogRecord) -> str | None:
    event = getattr(record, "dagster_meta", {}).get("dagster_event")
    return event.event_type_value if event is not None else None


class _StepLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", {})
        step = meta.get("step_key") or "run"
        if (event := _event_type(record)) is not None:
            return f"      {step}: {_STEP_OUTCOMES[event]}"
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"      {step}: {level}{meta.get('orig_message', record.getMessage())}"


def _shown(level: int):
    def shown(record: logging.LogRecord) -> bool:
        """Each step's outcome, and the progress and warnings the assets log at `level` and above. Errors are
        left to the summary (a failure's description names the file and the fix) and to the run's log."""
        event = _event_type(record)
        return event in _STEP_OUTCOMES if event is not None else level <= record.levelno < logging.ERROR

    return shown


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="One line per message logged by the assets and per step outcome, on stdout; no tracebacks.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("podcast_assets.progress", level=logging.DEBUG)  # step outcomes are DEBUG events
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_shown(logging.getLevelName(init_context.logger_config["log_level"])))
    handler.setFormatter(_StepLine())
    logger.addHandler(handler)
    return logger


def run_config(*, verbose: bool, log_level: str = "INFO") -> dict:
    """Only the progress logger by default; Dagster's console logger, tracebacks and all, with --verbose."""
    if verbose:
        return {"loggers": {"console": {"config": {"log_level": log_level}}}}
    return {"loggers": {"progress": {"config": {"log_level": log_level}}}}


def failure_reasons(result) -> list[str]:
    """One line per failed step: the actionable description of a dagster.Failure, else the error message."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                text = data.user_failure_data.description
            else:
                text = data.error.message.strip().splitlines()[0] if data.error else "unknown error"
            reasons.append(f"{event.step_key}: {text}")
    return reasons
