"""pipemode's Python reader: records of SageMaker training channels in Pipe, File and FastFile mode.

Standard library only (numpy is used for RecordIO-protobuf tensors when importable). The PyTorch
adapter is the separate module ``pipemode.torch`` (import it only where torch is installed).

    from pipemode import ChannelReader
    reader = ChannelReader("train", record_format="recordio")   # mode from inputdataconfig.json
    for epoch in range(3):
        for record in reader:                                   # each iter() = the next epoch
            ...
"""
from .channel import (
    MODES,
    ChannelConfigError,
    ChannelReader,
    EpochIncompleteError,
    EpochReader,
    FifoTimeoutError,
    PipeModeError,
    ShardError,
    available_channels,
    default_base_dir,
    read_input_data_config,
)
from .formats import (
    DEFAULT_BUFFER_SIZE,
    RECORDIO_MAGIC,
    RecordFormatError,
    encode_lines,
    encode_recordio,
    encode_recordio_parts,
    encode_tfrecord,
    read_lines,
    read_protobuf,
    read_records,
    read_recordio,
    read_tfrecord,
)
from .protobuf import ProtobufError, decode_record, encode_record, tensor, to_dense
from ._crc32c import IMPLEMENTATION as CRC32C_IMPLEMENTATION, crc32c, masked_crc32c

__version__ = "0.1.0"

__all__ = [
    "ChannelReader", "EpochReader", "PipeModeError", "ChannelConfigError", "ShardError", "FifoTimeoutError",
    "EpochIncompleteError", "RecordFormatError", "ProtobufError", "MODES", "available_channels", "default_base_dir",
    "read_input_data_config", "read_recordio", "read_tfrecord", "read_protobuf", "read_lines", "read_records",
    "encode_recordio", "encode_recordio_parts", "encode_tfrecord", "encode_lines", "decode_record", "encode_record",
    "tensor", "to_dense", "crc32c", "masked_crc32c", "CRC32C_IMPLEMENTATION", "RECORDIO_MAGIC", "DEFAULT_BUFFER_SIZE",
    "__version__",
]
