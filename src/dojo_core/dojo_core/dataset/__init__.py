"""LeRobot datasets: record (writer), check (validate), recover (repair), publish (hub) and read
(reader: v3.0 and v2.1). Training samples with delta_timestamps windows come from
dojo_core.dataset.torch_dataset, not imported here so that recording never loads torch."""
from dojo_core.dataset.format import CODEBASE_VERSION
from dojo_core.dataset.hub import push_to_hub
from dojo_core.dataset.reader import Episode, LeRobotDatasetReader, VideoSpan
from dojo_core.dataset.repair import RepairError, RepairReport, repair
from dojo_core.dataset.storage import DatasetError, DatasetLockedError
from dojo_core.dataset.validate import validate
from dojo_core.dataset.video_decoder import FrameTimestampError, VideoDecoder
from dojo_core.dataset.video_encoder import VideoEncoderConfig, VideoEncodingError
from dojo_core.dataset.writer import DatasetWriter, EpisodeSummary

__all__ = [
    'CODEBASE_VERSION', 'DatasetError', 'DatasetLockedError', 'DatasetWriter', 'Episode', 'EpisodeSummary',
    'FrameTimestampError', 'LeRobotDatasetReader', 'RepairError', 'RepairReport',
    'VideoDecoder', 'VideoEncoderConfig', 'VideoEncodingError', 'VideoSpan', 'push_to_hub', 'repair', 'validate',
]
