// Package export writes flows out. [CSV] and [CSVFiles] produce exactly
// the bytes of NFStream's to_csv (Python float repr, backslash-escaped
// quotes, header from the first flow, flows_per_file chunks and
// rotate_files), with optional keyed BLAKE2b-512 anonymization
// ([Anonymizer]) and row formatting on worker goroutines.
package export
