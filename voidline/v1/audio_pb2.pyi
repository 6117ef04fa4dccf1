from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SampleEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLE_ENCODING_UNSPECIFIED: _ClassVar[SampleEncoding]
    SAMPLE_ENCODING_PCM_S16LE: _ClassVar[SampleEncoding]
    SAMPLE_ENCODING_PCM_S24LE: _ClassVar[SampleEncoding]
    SAMPLE_ENCODING_PCM_F32LE: _ClassVar[SampleEncoding]
    SAMPLE_ENCODING_CONTAINER: _ClassVar[SampleEncoding]

class ChannelRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_ROLE_UNSPECIFIED: _ClassVar[ChannelRole]
    CHANNEL_ROLE_LEFT: _ClassVar[ChannelRole]
    CHANNEL_ROLE_RIGHT: _ClassVar[ChannelRole]
    CHANNEL_ROLE_CENTER: _ClassVar[ChannelRole]
    CHANNEL_ROLE_LFE: _ClassVar[ChannelRole]
    CHANNEL_ROLE_LEFT_SURROUND: _ClassVar[ChannelRole]
    CHANNEL_ROLE_RIGHT_SURROUND: _ClassVar[ChannelRole]
    CHANNEL_ROLE_LEFT_BACK: _ClassVar[ChannelRole]
    CHANNEL_ROLE_RIGHT_BACK: _ClassVar[ChannelRole]
    CHANNEL_ROLE_BACK_CENTER: _ClassVar[ChannelRole]
    CHANNEL_ROLE_DUAL_MONO: _ClassVar[ChannelRole]
SAMPLE_ENCODING_UNSPECIFIED: SampleEncoding
SAMPLE_ENCODING_PCM_S16LE: SampleEncoding
SAMPLE_ENCODING_PCM_S24LE: SampleEncoding
SAMPLE_ENCODING_PCM_F32LE: SampleEncoding
SAMPLE_ENCODING_CONTAINER: SampleEncoding
CHANNEL_ROLE_UNSPECIFIED: ChannelRole
CHANNEL_ROLE_LEFT: ChannelRole
CHANNEL_ROLE_RIGHT: ChannelRole
CHANNEL_ROLE_CENTER: ChannelRole
CHANNEL_ROLE_LFE: ChannelRole
CHANNEL_ROLE_LEFT_SURROUND: ChannelRole
CHANNEL_ROLE_RIGHT_SURROUND: ChannelRole
CHANNEL_ROLE_LEFT_BACK: ChannelRole
CHANNEL_ROLE_RIGHT_BACK: ChannelRole
CHANNEL_ROLE_BACK_CENTER: ChannelRole
CHANNEL_ROLE_DUAL_MONO: ChannelRole

class AudioFormat(_message.Message):
    __slots__ = ("encoding", "sample_rate_hz", "channel_count", "channel_roles")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ROLES_FIELD_NUMBER: _ClassVar[int]
    encoding: SampleEncoding
    sample_rate_hz: int
    channel_count: int
    channel_roles: _containers.RepeatedScalarFieldContainer[ChannelRole]
    def __init__(self, encoding: _Optional[_Union[SampleEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., channel_count: _Optional[int] = ..., channel_roles: _Optional[_Iterable[_Union[ChannelRole, str]]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class StreamProgress(_message.Message):
    __slots__ = ("received_s", "processed_s")
    RECEIVED_S_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_S_FIELD_NUMBER: _ClassVar[int]
    received_s: float
    processed_s: float
    def __init__(self, received_s: _Optional[float] = ..., processed_s: _Optional[float] = ...) -> None: ...
