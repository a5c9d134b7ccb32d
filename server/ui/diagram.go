package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/connbroker/connbroker/broker/handshake"
)

// Sequence diagram geometry, in SVG user units.
const (
	diagramWidth = 960
	clientX      = 150
	serverX      = 690
	headW        = 290
	headerY      = 16
	headerH      = 42
	firstRowY    = 96
	rowH         = 40
	labelMax     = 78 // characters of a summary drawn on an arrow
	noteMax      = 70 // characters of a summary drawn in a note box
)

// Diagram is a handshake transcript laid out as a sequence diagram: a
// client and a server lane, one row per event. The template draws it as
// inline SVG; every coordinate is computed here.
type Diagram struct {
	// Width and Height are the SVG's size.
	Width, Height int
	// ClientX, ServerX are the lanes' x; LaneTop, LaneBottom their extent.
	ClientX, ServerX    int
	LaneTop, LaneBottom int
	// HeaderY, HeaderH place the lane title boxes, HeadW their width;
	// ClientHeadX, ServerHeadX their left edges; TitleY and SubY the
	// baselines of the two title lines.
	HeaderY, HeaderH, HeadW  int
	ClientHeadX, ServerHeadX int
	TitleY, SubY             int
	// MidX is halfway between the lanes; MarkX where row marks start.
	MidX, MarkX int
	// Client and Server title the lanes; ClientSub and ServerSub are the
	// second lines (driver and user; server version).
	Client, Server       string
	ClientSub, ServerSub string
	// TLSFromY is where the connection became TLS (0: never); the lanes
	// are drawn encrypted from there down.
	TLSFromY int
	// Rows are the events, in order.
	Rows []DiagramRow
}

// DiagramRow is one event.
type DiagramRow struct {
	// Y is the row's line; LabelY the arrow label's baseline, BoxY the
	// note box's top, TextY the baseline of text beside the row.
	Y, LabelY, BoxY, TextY int
	// Kind is the event kind, Dir who produced it.
	Kind, Dir string
	// At is the time since the probe started, formatted.
	At string
	// Label is the text on the arrow; Title the full summary (tooltip).
	Label, Title string
	// Arrow is true for a packet; X1 -> X2 is its direction.
	Arrow  bool
	X1, X2 int
	// Note is true for a local step (dial, TLS handshake, stop, outcome),
	// drawn as a box between the lanes at NoteX, NoteW.
	Note         bool
	NoteX, NoteW int
	// Class is the CSS class: packet, switch (auth plugin switch), tls,
	// err, ok, stop, note.
	Class string
	// Mark is a short tag drawn beside the row, e.g. "plugin switch",
	// "TLS upgrade"; empty for none.
	Mark string
}

// NewDiagram lays out tr. It returns nil for a nil transcript.
func NewDiagram(tr *handshake.Transcript) *Diagram {
	if tr == nil {
		return nil
	}
	d := &Diagram{
		Width: diagramWidth, ClientX: clientX, ServerX: serverX,
		HeaderY: headerY, HeaderH: headerH, LaneTop: headerY + headerH, HeadW: headW,
		ClientHeadX: clientX - headW/2, ServerHeadX: serverX - headW/2, TitleY: headerY + 17, SubY: headerY + 33,
		MidX: (clientX + serverX) / 2, MarkX: serverX + 14,
		Client: "client", ClientSub: truncate(orDash(tr.Profile)+" as "+orDash(tr.User), 44),
		Server: "server " + orDash(tr.Addr), ServerSub: "no greeting",
	}
	if g := tr.Greeting; g != nil {
		d.ServerSub = truncate(g.ServerVersion, 44)
	} else if e, ok := tr.Find(handshake.KindGreeting); ok {
		d.ServerSub = truncate(e.Summary, 38) // a transcript from the API carries no parsed greeting
	}
	y := firstRowY
	for _, e := range tr.Events {
		r := DiagramRow{Y: y, LabelY: y - 7, BoxY: y - 14, TextY: y + 4, Kind: string(e.Kind), Dir: string(e.Dir), At: fmtAt(e.At), Title: e.Summary, Label: truncate(e.Summary, labelMax), Class: "packet"}
		switch e.Dir {
		case handshake.FromClient:
			r.Arrow, r.X1, r.X2 = true, clientX, serverX
		case handshake.FromServer:
			r.Arrow, r.X1, r.X2 = true, serverX, clientX
		default:
			r.Note, r.NoteX, r.NoteW, r.Class = true, clientX+20, serverX-clientX-40, "note"
			r.Label = truncate(e.Summary, noteMax)
		}
		switch e.Kind {
		case handshake.KindAuthSwitchRequest:
			r.Class, r.Mark = "switch", "plugin switch"
			if p := e.Fields["plugin"]; p != "" {
				r.Mark = "plugin switch: " + p
			}
		case handshake.KindSSLRequest:
			r.Class, r.Mark = "tls", "TLS upgrade"
		case handshake.KindTLS:
			r.Class = "tls"
			if strings.Contains(e.Summary, "failed") {
				r.Class, r.Mark = "err", "TLS failed"
			} else {
				r.Mark = "TLS on"
				if d.TLSFromY == 0 {
					d.TLSFromY = y
				}
			}
		case handshake.KindTLSFallback:
			r.Class, r.Mark = "err", "no TLS"
		case handshake.KindERR, handshake.KindError:
			r.Class = "err"
		case handshake.KindStop:
			r.Class, r.Mark = "stop", "driver stops"
		case handshake.KindWarning:
			r.Class = "stop"
		case handshake.KindOK, handshake.KindFastAuthSuccess:
			r.Class = "ok"
		case handshake.KindOutcome:
			if tr.Outcome.Result == handshake.ResultOK || tr.Outcome.Result == handshake.ResultGreeted {
				r.Class = "ok"
			} else {
				r.Class = "err"
			}
		}
		d.Rows = append(d.Rows, r)
		y += rowH
	}
	d.LaneBottom = y - rowH/2
	d.Height = y
	return d
}

// fmtAt formats an event's offset as "+1.234 ms".
func fmtAt(at time.Duration) string {
	return fmt.Sprintf("+%.3f ms", float64(at.Microseconds())/1000)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
