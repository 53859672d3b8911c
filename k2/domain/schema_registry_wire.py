"""The AWS Glue Schema Registry wire format, shared by its writer (feeds) and reader (jobs).

One header-version byte, one compression byte, the 16-byte schema version id, then the Avro body,
as AWS's GlueSchemaRegistryKafkaSerializer writes it.
"""

HEADER_VERSION = 3
COMPRESSION_NONE = 0
COMPRESSION_ZLIB = 5
SCHEMA_VERSION_ID_OFFSET = 2
HEADER_LENGTH = 18
