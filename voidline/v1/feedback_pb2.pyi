from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AbPreference(_message.Message):
    __slots__ = ("preferred_job_id", "other_job_id")
    PREFERRED_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    preferred_job_id: str
    other_job_id: str
    def __init__(self, preferred_job_id: _Optional[str] = ..., other_job_id: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("job_id", "rating", "preference", "corrected_parameters", "comment", "idempotency_key")
    class CorrectedParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    rating: int
    preference: AbPreference
    corrected_parameters: _containers.ScalarMap[str, float]
    comment: str
    idempotency_key: str
    def __init__(self, job_id: _Optional[str] = ..., rating: _Optional[int] = ..., preference: _Optional[_Union[AbPreference, _Mapping]] = ..., corrected_parameters: _Optional[_Mapping[str, float]] = ..., comment: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: Feedback
    def __init__(self, feedback: _Optional[_Union[Feedback, _Mapping]] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("feedback_id", "duplicate", "pending_in_buffer", "batch_size")
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    PENDING_IN_BUFFER_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    feedback_id: int
    duplicate: bool
    pending_in_buffer: int
    batch_size: int
    def __init__(self, feedback_id: _Optional[int] = ..., duplicate: _Optional[bool] = ..., pending_in_buffer: _Optional[int] = ..., batch_size: _Optional[int] = ...) -> None: ...

class SubmitFeedbackBatchRequest(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: Feedback
    def __init__(self, feedback: _Optional[_Union[Feedback, _Mapping]] = ...) -> None: ...

class SubmitFeedbackBatchResponse(_message.Message):
    __slots__ = ("stored", "duplicates", "feedback_ids")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_IDS_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    feedback_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., feedback_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetModelStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("version", "state", "created", "parent", "validation", "sha256", "sha256_int8", "reason", "promoted_at")
    class ValidationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SHA256_INT8_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_AT_FIELD_NUMBER: _ClassVar[int]
    version: str
    state: str
    created: float
    parent: str
    validation: _containers.ScalarMap[str, float]
    sha256: str
    sha256_int8: str
    reason: str
    promoted_at: float
    def __init__(self, version: _Optional[str] = ..., state: _Optional[str] = ..., created: _Optional[float] = ..., parent: _Optional[str] = ..., validation: _Optional[_Mapping[str, float]] = ..., sha256: _Optional[str] = ..., sha256_int8: _Optional[str] = ..., reason: _Optional[str] = ..., promoted_at: _Optional[float] = ...) -> None: ...

class DriftGroup(_message.Message):
    __slots__ = ("group", "psi", "alert")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    group: str
    psi: float
    alert: bool
    def __init__(self, group: _Optional[str] = ..., psi: _Optional[float] = ..., alert: _Optional[bool] = ...) -> None: ...

class GetModelStatusResponse(_message.Message):
    __slots__ = ("current_version", "feedback_count", "pending_in_buffer", "updates", "promotions", "rejections", "versions", "rating_counts", "drift_window", "drift", "drift_alert", "last_update_reason")
    class RatingCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_IN_BUFFER_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONS_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RATING_COUNTS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    DRIFT_ALERT_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_REASON_FIELD_NUMBER: _ClassVar[int]
    current_version: str
    feedback_count: int
    pending_in_buffer: int
    updates: int
    promotions: int
    rejections: int
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    rating_counts: _containers.ScalarMap[int, int]
    drift_window: int
    drift: _containers.RepeatedCompositeFieldContainer[DriftGroup]
    drift_alert: bool
    last_update_reason: str
    def __init__(self, current_version: _Optional[str] = ..., feedback_count: _Optional[int] = ..., pending_in_buffer: _Optional[int] = ..., updates: _Optional[int] = ..., promotions: _Optional[int] = ..., rejections: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., rating_counts: _Optional[_Mapping[int, int]] = ..., drift_window: _Optional[int] = ..., drift: _Optional[_Iterable[_Union[DriftGroup, _Mapping]]] = ..., drift_alert: _Optional[bool] = ..., last_update_reason: _Optional[str] = ...) -> None: ...

class ListModelVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ...) -> None: ...

class PromoteModelRequest(_message.Message):
    __slots__ = ("version", "force")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    version: str
    force: bool
    def __init__(self, version: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class PromoteModelResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModelVersion
    def __init__(self, version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class RollbackModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackModelResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModelVersion
    def __init__(self, version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class RetrainRequest(_message.Message):
    __slots__ = ("allow_partial_batch",)
    ALLOW_PARTIAL_BATCH_FIELD_NUMBER: _ClassVar[int]
    allow_partial_batch: bool
    def __init__(self, allow_partial_batch: _Optional[bool] = ...) -> None: ...

class RetrainResponse(_message.Message):
    __slots__ = ("outcome", "candidate_version", "reason", "items", "validation", "current_version")
    class ValidationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    outcome: str
    candidate_version: str
    reason: str
    items: int
    validation: _containers.ScalarMap[str, float]
    current_version: str
    def __init__(self, outcome: _Optional[str] = ..., candidate_version: _Optional[str] = ..., reason: _Optional[str] = ..., items: _Optional[int] = ..., validation: _Optional[_Mapping[str, float]] = ..., current_version: _Optional[str] = ...) -> None: ...
