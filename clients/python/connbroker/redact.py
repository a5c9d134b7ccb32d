"""Print broker messages without their secrets.

``Credential.secret`` is marked ``debug_redact`` in the proto, but the Python
protobuf runtime ignores that option: ``str(params)`` and ``repr(params)``
show the token. Log :func:`redacted` output instead.
"""

from __future__ import annotations

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["REDACTED", "redacted"]

#: What a redacted string field is replaced with.
REDACTED = "[REDACTED]"


def redacted(message: Message) -> str:
    """Return ``message`` in text format with every ``debug_redact`` field masked.

    Works on any message (``ConnectionParams``, ``GetConnectionParamsResponse``,
    ...); the message itself is not modified.
    """
    copy = type(message)()
    copy.CopyFrom(message)
    _mask(copy)
    return text_format.MessageToString(copy, as_one_line=True)


def _mask(message: Message) -> None:
    """Mask ``debug_redact`` fields in place, recursing into sub-messages."""
    for field, value in message.ListFields():
        if field.GetOptions().debug_redact:
            if field.type == FieldDescriptor.TYPE_STRING and not _is_repeated(field):
                setattr(message, field.name, REDACTED)
            else:
                message.ClearField(field.name)
            continue
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    _mask(item)
        elif _is_repeated(field):
            for item in value:
                _mask(item)
        else:
            _mask(value)


def _is_repeated(field: FieldDescriptor) -> bool:
    """Whether the field is repeated (works across protobuf runtimes)."""
    is_repeated = getattr(field, "is_repeated", None)
    if isinstance(is_repeated, bool):
        return is_repeated
    return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)
