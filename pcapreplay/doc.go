// Package pcapreplay reads packet capture files (pcap and pcapng) and
// delivers their records exactly as libpcap 1.10.3 does through
// pcap_open_offline and pcap_next_ex: the same timestamps (as a struct
// timeval in microseconds), captured and wire lengths, link types, and the
// same records skipped or reported as errors. The nfmeter flow meter relies
// on this to reproduce NFStream's output bit for bit.
//
// The reader is pure Go and does not allocate per packet: records are
// decoded into a caller-owned [Packet] whose Data aliases an internal
// buffer. Files are streamed through that buffer, never read whole, so
// captures of any size can be replayed.
//
// # Formats
//
// Classic pcap files are accepted in both byte orders, with microsecond
// (0xa1b2c3d4), nanosecond (0xa1b23c4d) and Kuznetzov (0xa1b2cd34) magics.
// Timestamp fields are 32-bit integers that libpcap, on the little-endian
// hosts NFStream runs on, reads as signed in little-endian files but as
// unsigned in byte-swapped (big-endian) ones; nanoseconds are scaled to
// microseconds by truncating division. A snapshot length of 0 is replaced
// by the link type's maximum, records above that maximum are errors,
// records longer than the snapshot length are cut to it, and the
// caplen/len swap of version 2.0 to 2.3 files is undone. The CAN ID of
// SocketCAN frames in byte-swapped Linux cooked captures is swapped back,
// as libpcap does; its rewriting of USB and NFLOG headers is not
// reproduced.
//
// pcapng files may hold several sections in either byte order. Interface
// Description Blocks are honoured with their if_tsresol and if_tsoffset
// options; Enhanced, Simple and obsolete Packet Blocks deliver packets,
// and other blocks are skipped.
//
// # Errors
//
// [Reader.Next] returns [io.EOF] after the last record of the last file. Damaged
// input yields a [*ReadError]. In every case the caller may simply call
// Next again: the reader then resumes where libpcap's next pcap_next_ex
// call would, which is what NFStream does. [ReadError.Recoverable]
// reports whether more records of the same file can follow (a skipped
// block or an invalid length) or whether the file ended (truncation, I/O
// error) so that the next call moves on to the next file. A later file
// that cannot be opened is reported as an [*OpenError], after which
// reading continues with the file after it.
//
// After a header whose length is impossible, libpcap reads on right
// behind that header and takes the record's data for headers. [OpenWith]
// with [Options].Resync (which nfmeter uses) looks for the next sound
// record instead; this is the one place where the reader knowingly
// differs from libpcap, and only for such damaged files.
//
// # Concurrency
//
// A [Reader] must not be used from several goroutines at once.
package pcapreplay
