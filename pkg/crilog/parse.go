package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// ErrMalformed is wrapped by the errors of Parse.
var ErrMalformed = errors.New("malformed CRI log entry")

// Entry is one parsed CRI log entry.
type Entry struct {
	// Time is when the runtime read the content.
	Time time.Time
	// Stream is Stdout or Stderr.
	Stream Stream
	// Partial is true for a P entry: the content continues in the stream's
	// next entry, with no line break in between.
	Partial bool
	// Content is the entry's content without the trailing '\n'. It aliases
	// the line given to Parse.
	Content []byte
}

// Parse parses one entry; a trailing '\n' is optional. Like the kubelet, it
// reads only the first of the ':'-separated tags, so later tags are ignored.
func Parse(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return Entry{}, fmt.Errorf("%w: no timestamp", ErrMalformed)
	}
	t, err := time.Parse(TimeFormat, string(ts))
	if err != nil {
		return Entry{}, fmt.Errorf("%w: timestamp: %w", ErrMalformed, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Entry{}, fmt.Errorf("%w: no stream", ErrMalformed)
	}
	s := Stream(stream)
	if s != Stdout && s != Stderr {
		return Entry{}, fmt.Errorf("%w: unknown stream %q", ErrMalformed, stream)
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Entry{}, fmt.Errorf("%w: no tag", ErrMalformed)
	}
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	if len(tag) != 1 || (tag[0] != tagFull && tag[0] != tagPartial) {
		return Entry{}, fmt.Errorf("%w: unknown tag %q", ErrMalformed, tags)
	}
	return Entry{Time: t, Stream: s, Partial: tag[0] == tagPartial, Content: content}, nil
}
