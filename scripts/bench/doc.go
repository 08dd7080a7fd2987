package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Markers delimiting the generated section of the performance document.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceSection replaces what lies between the markers of the document
// at path with section.
func replaceSection(path, section string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("update document: %w", err)
	}
	out, err := spliceSection(doc, section)
	if err != nil {
		return fmt.Errorf("update document %s: %w", path, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("update document: %w", err)
	}
	return nil
}

// spliceSection returns doc with the lines between the marker lines
// replaced by section. Markers count only on a line of their own, so the
// document may mention them in its text.
func spliceSection(doc []byte, section string) ([]byte, error) {
	begin, end := markerLine(doc, beginMarker, 0), -1
	if begin >= 0 {
		end = markerLine(doc, endMarker, begin)
	}
	if begin < 0 || end < 0 {
		return nil, errors.New("no line " + beginMarker + " followed by a line " + endMarker)
	}
	var out bytes.Buffer
	out.Write(doc[:begin+len(beginMarker)])
	out.WriteString("\n")
	out.WriteString(section)
	if len(section) > 0 && section[len(section)-1] != '\n' {
		out.WriteString("\n")
	}
	out.Write(doc[end:])
	return out.Bytes(), nil
}

// markerLine returns the offset of the first line at or after from that
// is exactly marker (trailing spaces and CR aside), or -1.
func markerLine(doc []byte, marker string, from int) int {
	for off := from; off < len(doc); {
		line := doc[off:]
		n := bytes.IndexByte(line, '\n')
		if n >= 0 {
			line = line[:n]
		}
		if string(bytes.TrimRight(line, " \t\r")) == marker {
			return off
		}
		if n < 0 {
			break
		}
		off += n + 1
	}
	return -1
}
