"""Tools the agent can call: plain async functions, declared from their signatures.

Operators write them with :func:`tool` (``from app.tools import tool``) and name their
modules in ``TOOL_MODULES``; see :mod:`app.tools.examples`.
"""

from app.errors import ToolDefinitionError
from app.tools.builtins import END_CALL, TRANSFER_CALL, end_call_tool, transfer_call_tool
from app.tools.declare import Scheduling, Tool, ToolFunction, declare, tool
from app.tools.loading import load_module_tools, load_tools

__all__ = [
    "END_CALL",
    "TRANSFER_CALL",
    "Scheduling",
    "Tool",
    "ToolDefinitionError",
    "ToolFunction",
    "declare",
    "end_call_tool",
    "load_module_tools",
    "load_tools",
    "tool",
    "transfer_call_tool",
]
