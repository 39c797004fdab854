"""
Message definitions for recordings, from the ``.msg`` files of the installed packages.

A rosbag2 recording stores each topic's message definition (with every type
it uses), so that any reader can decode it without the packages. Writing one
(``mtrace record``) needs those definitions: they are read from each
package's ``share/<package>/msg/<Type>.msg``, as ``ros2 bag record`` does.
Reading a recording that stores none falls back to the same definitions.
"""

import pathlib
from typing import Optional

from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from rosbags.typesys import get_types_from_msg
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores
from rosbags.typesys.store import Typestore

#: rosbags' node type of a field that names another message type.
_NAMED = 2


def _msg_file(type_name: str) -> Optional[pathlib.Path]:
    """Return the ``.msg`` file of ``pkg/msg/Type`` from its package's share directory."""
    package, _, name = type_name.partition('/msg/')
    if not package or not name:
        return None
    try:
        path = pathlib.Path(get_package_share_directory(package)) / 'msg' / f'{name}.msg'
    except (PackageNotFoundError, ValueError, LookupError):
        return None
    return path if path.is_file() else None


def add_installed_type(typestore: Typestore, type_name: str) -> bool:
    """
    Register ``type_name`` and the types it uses from the installed ``.msg`` files.

    Types the store already knows are kept. Return whether ``type_name`` is
    known afterwards.
    """
    pending = [type_name]
    while pending:
        name = pending.pop()
        if name in typestore.fielddefs:
            continue
        path = _msg_file(name)
        if path is None:
            return type_name in typestore.fielddefs
        types = get_types_from_msg(path.read_text(encoding='utf-8'), name)
        typestore.register(types)
        for _, fields in types.values():
            for _, (node_type, detail) in fields:
                nested = detail[0] if node_type != _NAMED and isinstance(detail, tuple) else detail
                if isinstance(nested, tuple) and nested and nested[0] == _NAMED:
                    nested = nested[1]
                if isinstance(nested, str) and '/' in nested:
                    pending.append(nested)
    return type_name in typestore.fielddefs


def installed_typestore() -> Typestore:
    """Return a store of the ROS 2 Kilted types, to which installed types are added on demand."""
    return get_typestore(Stores.ROS2_KILTED)
