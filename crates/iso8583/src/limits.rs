//! Named bounds. Every buffer the codec fills is bounded by one of these, so hostile input can
//! never make the codec allocate more than a small multiple of `MESSAGE_BYTES_MAX`.

/// Largest message body (MTI through the last field) the codec will decode or encode.
/// ISO 8583 messages on card networks stay well under 4 KiB; 16 KiB leaves room for large
/// field 62/63 downloads while keeping a hostile length prefix harmless.
pub const MESSAGE_BYTES_MAX: usize = 16 * 1024;

/// Largest declared frame (length prefix value) accepted by the framing layer.
pub const FRAME_BYTES_MAX: usize = MESSAGE_BYTES_MAX + 64;

/// Highest field number: primary, secondary and tertiary bitmaps give 192 fields.
pub const FIELD_NUMBER_MAX: usize = 192;

/// Largest value of one field, in value units (digits, characters or bytes).
pub const FIELD_VALUE_UNITS_MAX: usize = 9_999;

/// Deepest nesting of constructed BER-TLV templates we walk (EMV uses at most 2).
pub const TLV_DEPTH_MAX: usize = 4;

/// Most TLV elements in one field value.
pub const TLV_ELEMENTS_MAX: usize = 256;

/// Most positional subfields in one layout, and most occurrences of a repeated group.
pub const LAYOUT_ITEMS_MAX: usize = 64;
pub const GROUP_REPEATS_MAX: usize = 256;

/// Longest path such as `55.9F26` or `48.2.3.1`.
pub const PATH_SEGMENTS_MAX: usize = 4;

/// Largest spec file accepted by the loaders.
pub const SPEC_FILE_BYTES_MAX: usize = 1024 * 1024;

const _: () = assert!(FRAME_BYTES_MAX > MESSAGE_BYTES_MAX);
const _: () = assert!(FIELD_VALUE_UNITS_MAX < MESSAGE_BYTES_MAX * 2);
const _: () = assert!(FIELD_NUMBER_MAX == 3 * 64);
