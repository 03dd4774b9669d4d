"""Generic conversion between protobuf messages and the Pydantic models of ``types``.

Both directions walk the message descriptor, so a model only has to name its fields
as the proto does: enums travel as integers, ``google.protobuf.Timestamp`` as a UTC
datetime (unset: ``None``), an unset sub-message as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)
_P = TypeVar("_P", bound=Message)

_TIMESTAMP = "google.protobuf.Timestamp"


def _is_repeated(field: FieldDescriptor) -> bool:
    # ``is_repeated`` arrived with protobuf 6 and ``label`` is deprecated there; the SDK
    # also runs on protobuf 4.25, which has only ``label``.
    is_repeated = getattr(field, "is_repeated", None)
    if is_repeated is None:
        return bool(field.label == FieldDescriptor.LABEL_REPEATED)
    return bool(is_repeated)


def _is_message(field: FieldDescriptor) -> bool:
    return field.message_type is not None


def _is_timestamp(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.full_name == _TIMESTAMP


def message_to_dict(message: Message) -> dict[str, Any]:
    """Returns the fields of ``message`` as plain Python values, recursively."""
    values: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if _is_repeated(field):
            if _is_message(field):
                values[field.name] = [message_to_dict(item) for item in value]
            else:
                values[field.name] = list(value)
        elif _is_message(field) and not message.HasField(field.name):
            values[field.name] = None
        elif _is_timestamp(field):
            values[field.name] = value.ToDatetime(tzinfo=timezone.utc)
        elif _is_message(field):
            values[field.name] = message_to_dict(value)
        else:
            values[field.name] = value
    return values


def from_message(message: Message, model: type[_M]) -> _M:
    """Converts a protobuf message into the model that mirrors it."""
    return model.model_validate(message_to_dict(message))


def _fill(message: Message, values: Mapping[str, Any] | BaseModel) -> None:
    items = (
        {name: getattr(values, name) for name in type(values).model_fields}
        if isinstance(values, BaseModel)
        else values
    )
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in items.items():
        field = fields[name]
        if value is None:
            continue
        target = getattr(message, name)
        if _is_repeated(field):
            if _is_message(field):
                for item in value:
                    _fill(target.add(), item)
            else:
                target.extend(value)
        elif _is_timestamp(field):
            # FromDatetime converts aware datetimes to UTC and takes naive ones as UTC.
            target.FromDatetime(value)
        elif _is_message(field):
            target.SetInParent()
            _fill(target, value)
        else:
            setattr(message, name, value)


def to_message(message_type: type[_P], values: Mapping[str, Any] | BaseModel) -> _P:
    """Builds a ``message_type`` from a model or a mapping of field names to values.

    Nested values may be models or mappings; ``None`` leaves a field unset.
    """
    message = message_type()
    _fill(message, values)
    return message
