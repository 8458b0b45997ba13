package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// Stream names the output stream an entry came from.
type Stream string

const (
	// Stdout is the stream name of a process's standard output.
	Stdout Stream = "stdout"
	// Stderr is the stream name of a process's standard error.
	Stderr Stream = "stderr"
)

const (
	// DefaultMaxLineSize is containerd's default max_container_log_line_size:
	// content longer than this is cut into partial entries.
	DefaultMaxLineSize = 16 * 1024

	// TimeFormat is the layout of an entry's timestamp (always in UTC here).
	TimeFormat = time.RFC3339Nano

	tagFull    = 'F'
	tagPartial = 'P'

	// headerRoom is reserved in front of the content for the timestamp, the
	// stream and the tag; an RFC3339Nano UTC time takes at most 30 bytes.
	headerRoom = 48
	// readSize is how much ReadFrom reads at once.
	readSize = 4096
)

// Writer turns the bytes written to it into CRI log entries for one stream.
// It holds at most one line (up to the max line size) until the line ends.
// A Writer is not safe for concurrent use; use one per stream.
type Writer struct {
	w      io.Writer
	stream Stream
	clock  func() time.Time
	max    int

	// buf is headerRoom bytes of space for the header, then the content of
	// the current line (at most max+1 bytes: the last may be a '\r' that a
	// following '\n' removes), then one byte for the entry's '\n'.
	buf     []byte
	n       int // content bytes in buf
	readBuf []byte
	err     error // first write error
}

// NewWriter returns a Writer of stream's entries to w. clock gives the
// entries' timestamps (time.Now if nil); maxLineSize bounds an entry's content
// (DefaultMaxLineSize if not positive).
func NewWriter(w io.Writer, stream Stream, clock func() time.Time, maxLineSize int) *Writer {
	if clock == nil {
		clock = time.Now
	}
	if maxLineSize <= 0 {
		maxLineSize = DefaultMaxLineSize
	}
	return &Writer{w: w, stream: stream, clock: clock, max: maxLineSize}
}

// Write turns p into entries; it keeps an unterminated last line until more
// bytes or Close arrive. It returns the first error of the underlying writer,
// but always consumes all of p so the stream keeps moving.
func (w *Writer) Write(p []byte) (int, error) {
	if w.buf == nil {
		w.buf = make([]byte, headerRoom+w.max+2)
	}
	total := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.appendContent(p)
			break
		}
		w.appendContent(p[:i])
		if w.n > 0 && w.buf[headerRoom+w.n-1] == '\r' {
			w.n--
		}
		w.emit(tagFull, w.n)
		w.n = 0
		p = p[i+1:]
	}
	return total, w.err
}

// appendContent adds bytes of the current line (no '\n' among them), writing
// a P entry each time more than max bytes are certain to be content.
func (w *Writer) appendContent(p []byte) {
	for len(p) > 0 {
		if w.n == w.max+1 {
			// The byte after max is content, not the '\r' of a "\r\n".
			w.emitPartialHead()
		}
		c := copy(w.buf[headerRoom+w.n:headerRoom+w.max+1], p)
		w.n += c
		p = p[c:]
		if w.n == w.max+1 && w.buf[headerRoom+w.max] != '\r' {
			w.emitPartialHead()
		}
	}
}

// emitPartialHead writes the first max content bytes as a P entry and keeps
// the one byte after them.
func (w *Writer) emitPartialHead() {
	next := w.buf[headerRoom+w.max]
	w.emit(tagPartial, w.max)
	w.buf[headerRoom] = next
	w.n = 1
}

// emit writes the first n content bytes as one entry with one Write call.
// It clobbers the byte after them with the entry's '\n'.
func (w *Writer) emit(tag byte, n int) {
	var hdr [headerRoom]byte
	h := w.clock().UTC().AppendFormat(hdr[:0], TimeFormat)
	h = append(h, ' ')
	h = append(h, w.stream...)
	h = append(h, ' ', tag, ' ')
	start := headerRoom - len(h)
	if start < 0 {
		w.setErr(fmt.Errorf("log entry header %q too long", h))
		return
	}
	copy(w.buf[start:], h)
	w.buf[headerRoom+n] = '\n'
	if _, err := w.w.Write(w.buf[start : headerRoom+n+1]); err != nil {
		w.setErr(fmt.Errorf("write %s log entry: %w", w.stream, err))
	}
}

func (w *Writer) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Close writes the unterminated last line, if any, as P entries, as
// containerd does at the end of a stream. It does not close the underlying
// writer. It returns the first error of the underlying writer.
func (w *Writer) Close() error {
	if w.n > w.max {
		w.emitPartialHead()
	}
	if w.n > 0 {
		w.emit(tagPartial, w.n)
		w.n = 0
	}
	return w.err
}

// ReadFrom copies r into entries until r ends or fails. It keeps reading when
// writes fail, so the process on the other end of a pipe never blocks on a
// full pipe. It returns the bytes read and r's error (nil at io.EOF), else the
// first write error. It does not Close the Writer.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.readBuf == nil {
		w.readBuf = make([]byte, readSize)
	}
	var total int64
	for {
		n, err := r.Read(w.readBuf)
		if n > 0 {
			total += int64(n)
			_, _ = w.Write(w.readBuf[:n])
		}
		if errors.Is(err, io.EOF) {
			return total, w.err
		}
		if err != nil {
			return total, err
		}
	}
}
