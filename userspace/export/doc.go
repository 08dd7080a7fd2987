// Package export writes flows out. [CSV] produces exactly the bytes of
// NFStream's to_csv (Python float repr, backslash-escaped quotes, header
// from the first flow), with optional keyed BLAKE2b-512 anonymization
// ([Anonymizer]). [Parquet] writes the same columns and values as typed
// Parquet (INT64 counters and times, DOUBLE statistics, STRING text,
// LIST<INT64> SPLT arrays, nullable plugin columns typed from their
// values), zstd-compressed by default, in row groups of bounded size;
// its Close writes the footer, so a run cut short still leaves a
// readable file.
//
// Every format takes a flow's values from [flows.Flow.Walk], which alone
// decides the columns' order and defaults: a format is a
// [flows.ColumnWriter] plus a small encoder. [Files] writes any format to
// one file or to flows_per_file chunks with rotate_files, stdout for "-",
// anonymized columns, and encoding on worker goroutines;
// [NewCSVFiles] and [NewParquetFiles] open it for CSV and Parquet.
package export
