"""The CodeAct agent: prompt generation, code extraction, the loop and its transcripts."""

from codeact_robot.agent.extraction import ExtractedCode, extract_code
from codeact_robot.agent.loop import (
    PHASES,
    STOP_SEQUENCES,
    AgentConfig,
    AgentEvent,
    CodeActAgent,
    CodeExecutor,
    EpisodeResult,
)
from codeact_robot.agent.prompt import build_system_prompt, load_prompt_file
from codeact_robot.agent.transcript import Transcript, read_transcript

__all__ = [
    'PHASES', 'STOP_SEQUENCES', 'AgentConfig', 'AgentEvent', 'CodeActAgent', 'CodeExecutor',
    'EpisodeResult', 'ExtractedCode', 'Transcript', 'build_system_prompt', 'extract_code',
    'load_prompt_file', 'read_transcript',
]
