//! Semantic-convention names used by clew, pinned to semantic conventions
//! **v1.44.0** ([`SCHEMA_URL`]).
//!
//! Only names clew itself emits are here; stable names unless marked
//! *development*. Use them instead of string literals so a typo is a
//! compile error.

/// The schema these names follow.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.44.0";

// Exceptions (`docs/exceptions/exceptions-spans.md`).
/// The name of the event that records an exception.
pub const EXCEPTION_EVENT_NAME: &str = "exception";
/// The fully qualified type of the error.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// The error message.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// The error's source chain and, when captured, the backtrace.
pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
/// The class of error an operation ended with.
pub const ERROR_TYPE: &str = "error.type";

// HTTP (stable).
/// HTTP request method (`GET`, `_OTHER`).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// The original method when it is not a known one.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// HTTP response status code.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// The matched route template (server).
pub const HTTP_ROUTE: &str = "http.route";
/// Retry ordinal of a client request.
pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
/// Full request URL (client).
pub const URL_FULL: &str = "url.full";
/// URL path (server).
pub const URL_PATH: &str = "url.path";
/// URL query (server).
pub const URL_QUERY: &str = "url.query";
/// URL scheme.
pub const URL_SCHEME: &str = "url.scheme";
/// Server host name or address.
pub const SERVER_ADDRESS: &str = "server.address";
/// Server port.
pub const SERVER_PORT: &str = "server.port";
/// Client address (server side).
pub const CLIENT_ADDRESS: &str = "client.address";
/// Client port (server side).
pub const CLIENT_PORT: &str = "client.port";
/// Peer address of the connection.
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// Peer port of the connection.
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// Application protocol name when not `http`.
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// Application protocol version (`1.1`, `2`).
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// The `User-Agent` header.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

// Database (stable core).
/// The database management system (`postgresql`, `redis`).
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// Database name, schema or index.
pub const DB_NAMESPACE: &str = "db.namespace";
/// The operation (`SELECT`, `GET`).
pub const DB_OPERATION_NAME: &str = "db.operation.name";
/// The table or collection.
pub const DB_COLLECTION_NAME: &str = "db.collection.name";
/// The query text (parameterised, or sanitized).
pub const DB_QUERY_TEXT: &str = "db.query.text";
/// A low-cardinality summary of the query.
pub const DB_QUERY_SUMMARY: &str = "db.query.summary";
/// The database's status code for a failed operation (SQLSTATE, Redis error prefix).
pub const DB_RESPONSE_STATUS_CODE: &str = "db.response.status_code";
/// The number of operations in a batch.
pub const DB_OPERATION_BATCH_SIZE: &str = "db.operation.batch.size";
/// A stored procedure's name.
pub const DB_STORED_PROCEDURE_NAME: &str = "db.stored_procedure.name";
/// `db.system.name` for PostgreSQL.
pub const DB_SYSTEM_POSTGRESQL: &str = "postgresql";
/// `db.system.name` for Redis.
pub const DB_SYSTEM_REDIS: &str = "redis";

// Messaging (development).
/// The messaging system (`rabbitmq`).
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// The system-specific operation name (`publish`, `ack`).
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// The operation type (`send`, `receive`, `process`, `settle`, `create`).
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// The destination's name.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// The message id.
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
/// The conversation (correlation) id.
pub const MESSAGING_MESSAGE_CONVERSATION_ID: &str = "messaging.message.conversation_id";
/// The message body size in bytes.
pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
/// The number of messages in a batch.
pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
/// RabbitMQ routing key.
pub const MESSAGING_RABBITMQ_ROUTING_KEY: &str = "messaging.rabbitmq.destination.routing_key";
/// RabbitMQ delivery tag.
pub const MESSAGING_RABBITMQ_DELIVERY_TAG: &str = "messaging.rabbitmq.message.delivery_tag";
/// `messaging.system` for RabbitMQ.
pub const MESSAGING_SYSTEM_RABBITMQ: &str = "rabbitmq";

// Resource (stable).
/// The logical service name.
pub const SERVICE_NAME: &str = "service.name";
/// The service version.
pub const SERVICE_VERSION: &str = "service.version";
/// The service namespace.
pub const SERVICE_NAMESPACE: &str = "service.namespace";
/// The unique id of this service instance.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// The deployment environment (`production`).
pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
/// The SDK's name.
pub const TELEMETRY_SDK_NAME: &str = "telemetry.sdk.name";
/// The SDK's language (`rust`).
pub const TELEMETRY_SDK_LANGUAGE: &str = "telemetry.sdk.language";
/// The SDK's version.
pub const TELEMETRY_SDK_VERSION: &str = "telemetry.sdk.version";
/// The host name.
pub const HOST_NAME: &str = "host.name";
/// The host CPU architecture.
pub const HOST_ARCH: &str = "host.arch";
/// The operating system type.
pub const OS_TYPE: &str = "os.type";
/// The process id.
pub const PROCESS_PID: &str = "process.pid";
/// The executable's name.
pub const PROCESS_EXECUTABLE_NAME: &str = "process.executable.name";
/// The executable's path.
pub const PROCESS_EXECUTABLE_PATH: &str = "process.executable.path";
/// The command used to start the process.
pub const PROCESS_COMMAND: &str = "process.command";
/// The command's arguments.
pub const PROCESS_COMMAND_ARGS: &str = "process.command_args";
/// The runtime's name.
pub const PROCESS_RUNTIME_NAME: &str = "process.runtime.name";
/// The runtime's version.
pub const PROCESS_RUNTIME_VERSION: &str = "process.runtime.version";
