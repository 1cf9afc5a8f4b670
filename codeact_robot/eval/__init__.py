"""Evaluation: the task suite, success predicates, the JSON tool-calling baseline and the table.

ROS-free except ``monitor`` (the ground-truth recorder) and ``runner`` (which starts the
embedded robot). Entry point: ``codeact_robot.eval.cli.main`` (`codeact-robot bench agent`).
"""

from codeact_robot.eval.predicates import (
    PREDICATES,
    Check,
    EpisodeFacts,
    GroundTruth,
    PredicateError,
    SafetyIntervention,
    evaluate,
)
from codeact_robot.eval.suite import CATEGORIES, MODES, Suite, SuiteError, Task, load_suite

__all__ = [
    'CATEGORIES', 'MODES', 'PREDICATES', 'Check', 'EpisodeFacts', 'GroundTruth',
    'PredicateError', 'SafetyIntervention', 'Suite', 'SuiteError', 'Task', 'evaluate',
    'load_suite',
]
