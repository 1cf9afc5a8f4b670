"""The folder layout tells the truth: ROS only under nodes/, no import cycles between folders.

docs/ARCHITECTURE.md promises a ROS-free core (world, sim, nav, safety, skills, perception, api,
executor, llm, agent, eval) with thin rclpy nodes around it. These tests read every module's
imports (lazy ones inside functions included) so that a new `import rclpy` in the core, or a
folder that starts importing one that imports it back, fails here rather than in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'codeact_robot'
ROS_MODULES = ('rclpy', 'geometry_msgs', 'std_msgs', 'std_srvs', 'sensor_msgs', 'nav_msgs',
               'rosgraph_msgs', 'diagnostic_msgs', 'builtin_interfaces',
               'codeact_robot_interfaces', 'launch', 'launch_ros')
# Folders whose modules may import ROS; everything else is the ROS-free core.
ROS_FOLDERS = {'nodes'}
# Top-level modules that compose the layers (CLI, session): they may reach into any folder, and
# import ROS only lazily inside functions (checked below).
COMPOSERS = {'cli', 'session', 'ros_env'}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every imported module name in ``path``, with whether the import is at module level."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    top = {id(node) for node in tree.body}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == 'codeact_robot':
                found += [(f'codeact_robot.{a.name}', id(node) in top) for a in node.names]
            else:
                found.append((node.module, id(node) in top))
    return found


def _folder(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob('*.py') if '__pycache__' not in p.parts)


def test_ros_is_imported_only_under_nodes():
    offenders = []
    for path in _modules():
        folder = _folder(path)
        if folder in ROS_FOLDERS:
            continue
        for name, module_level in _imports(path):
            if name.split('.')[0] in ROS_MODULES and (module_level or folder not in COMPOSERS):
                offenders.append(f'{path.relative_to(PACKAGE)} imports {name}')
    assert offenders == [], 'ROS outside nodes/:\n' + '\n'.join(offenders)


def _folder_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        folder = _folder(path)
        for name, _ in _imports(path):
            parts = name.split('.')
            if parts[0] == 'codeact_robot' and len(parts) > 1:
                target = parts[1]
                if target != folder and (PACKAGE / target).is_dir():
                    graph.setdefault(folder, set()).add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle of folders as a path, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_folders_import_each_other_without_cycles():
    cycle = _cycle(_folder_graph())
    assert cycle is None, 'import cycle between folders: ' + ' -> '.join(cycle or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b'}, 'b': {'c'}}) is None


def test_every_folder_is_listed_in_the_architecture_page():
    page = (PACKAGE.parent / 'docs' / 'ARCHITECTURE.md').read_text(encoding='utf-8')
    folders = sorted(p.name for p in PACKAGE.iterdir()
                     if p.is_dir() and (p / '__init__.py').exists())
    missing = [f for f in folders if f'`codeact_robot/{f}/`' not in page]
    assert missing == [], f'folders missing from docs/ARCHITECTURE.md: {missing}'
