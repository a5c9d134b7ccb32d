package connbrokerv1

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Sizes of a paramsArena's element arrays: room for every driver's hint
// options (PyMySQL with every option has 7), a resolution's evidence and a
// driver's packages and warnings. A response with more gets its own
// slices for those fields.
const (
	arenaOptions  = 10
	arenaEvidence = 4
	arenaStrings  = 6
)

// paramsArena holds, in one allocation, the messages and element slices
// of a GetConnectionParamsResponse, which unmarshalling would otherwise
// allocate one by one (each message, each hint option and evidence, and
// each growth of their slices). layOut points a response's fields into it,
// for the fields present on the wire only (presence is kept); the
// generated UnmarshalVTUnsafe then fills them in place: it reuses a set
// message field, and (DriverHints and Resolution being generated as
// poolable) the elements of a repeated message field within its capacity.
type paramsArena struct {
	params   ConnectionParams
	cred     Credential
	expires  timestamppb.Timestamp
	refresh  timestamppb.Timestamp
	tls      TLSSettings
	hints    DriverHints
	names    ParamOptionNames
	res      Resolution
	opts     [arenaOptions]HintOption
	optPtrs  [arenaOptions]*HintOption
	evidence [arenaEvidence]Evidence
	evPtrs   [arenaEvidence]*Evidence
	strs     [arenaStrings]string
}

// credArena is the arena of a response that carries no view (view_omitted:
// endpoint and credential only), a fraction of a paramsArena's size.
type credArena struct {
	params  ConnectionParams
	cred    Credential
	expires timestamppb.Timestamp
	refresh timestamppb.Timestamp
}

// paramsShape is what scanParams saw of a response.
type paramsShape struct {
	params, cred, expires, refresh, tls, hints, names, res bool
	options, evidence, packages, warnings                  int
}

func fieldNum(m protoreflect.ProtoMessage, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// fieldNums are the field numbers scanParams looks for, read from the
// descriptors (on first use: they are built by broker.pb.go's init).
type fieldNums struct {
	responseParams, paramsCred, paramsTLS, paramsHints, paramsRes, credExpires, credRefresh,
	hintsOptions, hintsPackages, hintsWarnings, hintsParamNames, resEvidence protowire.Number
}

var fields = sync.OnceValue(func() fieldNums {
	return fieldNums{
		responseParams:  fieldNum(&GetConnectionParamsResponse{}, "params"),
		paramsCred:      fieldNum(&ConnectionParams{}, "credential"),
		paramsTLS:       fieldNum(&ConnectionParams{}, "tls"),
		paramsHints:     fieldNum(&ConnectionParams{}, "hints"),
		paramsRes:       fieldNum(&ConnectionParams{}, "resolution"),
		credExpires:     fieldNum(&Credential{}, "expires_at"),
		credRefresh:     fieldNum(&Credential{}, "refresh_after"),
		hintsOptions:    fieldNum(&DriverHints{}, "options"),
		hintsPackages:   fieldNum(&DriverHints{}, "packages"),
		hintsWarnings:   fieldNum(&DriverHints{}, "warnings"),
		hintsParamNames: fieldNum(&DriverHints{}, "param_options"),
		resEvidence:     fieldNum(&Resolution{}, "evidence"),
	}
})

// eachField calls f with every field of the message encoded in b and, for
// a length-delimited one, its contents; false for malformed input.
func eachField(b []byte, f func(num protowire.Number, val []byte)) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var val []byte
		if typ == protowire.BytesType {
			val, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
		f(num, val)
	}
	return true
}

// scanParams reads which of the arena's fields a response encoded in b
// has and how many elements its repeated fields have (a cheap pass: tags
// and lengths only).
func scanParams(b []byte) (s paramsShape, ok bool) {
	f := fields()
	ok = eachField(b, func(num protowire.Number, val []byte) {
		if num != f.responseParams || val == nil {
			return
		}
		s.params = true
		ok := eachField(val, func(num protowire.Number, val []byte) {
			switch {
			case val == nil:
			case num == f.paramsCred:
				s.cred = true
				eachField(val, func(num protowire.Number, _ []byte) {
					s.expires = s.expires || num == f.credExpires
					s.refresh = s.refresh || num == f.credRefresh
				})
			case num == f.paramsTLS:
				s.tls = true
			case num == f.paramsHints:
				s.hints = true
				eachField(val, func(num protowire.Number, _ []byte) {
					switch num {
					case f.hintsOptions:
						s.options++
					case f.hintsPackages:
						s.packages++
					case f.hintsWarnings:
						s.warnings++
					case f.hintsParamNames:
						s.names = true
					}
				})
			case num == f.paramsRes:
				s.res = true
				eachField(val, func(num protowire.Number, _ []byte) {
					if num == f.resEvidence {
						s.evidence++
					}
				})
			}
		})
		s.params = s.params && ok
	})
	return s, ok && s.params
}

// layOut points the fields of the (reset) response m that the encoded
// response b has into one paramsArena. It does nothing for a response it
// cannot scan: the unmarshal then allocates as usual (and reports the
// error).
func layOut(m *GetConnectionParamsResponse, b []byte) {
	s, ok := scanParams(b)
	if !ok {
		return
	}
	if !s.tls && !s.hints && !s.res {
		a := new(credArena)
		m.Params = &a.params
		layOutCred(s, &a.params, &a.cred, &a.expires, &a.refresh)
		return
	}
	a := new(paramsArena)
	m.Params = &a.params
	layOutCred(s, &a.params, &a.cred, &a.expires, &a.refresh)
	if s.tls {
		a.params.Tls = &a.tls
	}
	if s.hints {
		h := &a.hints
		a.params.Hints = h
		if s.names {
			h.ParamOptions = &a.names
		}
		if s.options <= arenaOptions {
			for i := range s.options {
				a.optPtrs[i] = &a.opts[i]
			}
			h.Options = a.optPtrs[:0:s.options]
		}
		if s.packages+s.warnings <= arenaStrings {
			h.Packages = a.strs[0:0:s.packages]
			h.Warnings = a.strs[s.packages : s.packages : s.packages+s.warnings]
		}
	}
	if s.res {
		a.params.Resolution = &a.res
		if s.evidence <= arenaEvidence {
			for i := range s.evidence {
				a.evPtrs[i] = &a.evidence[i]
			}
			a.res.Evidence = a.evPtrs[:0:s.evidence]
		}
	}
}

// layOutCred points p's credential (and its timestamps) into an arena's
// messages, as s saw them on the wire.
func layOutCred(s paramsShape, p *ConnectionParams, cred *Credential, expires, refresh *timestamppb.Timestamp) {
	if !s.cred {
		return
	}
	p.Credential = cred
	if s.expires {
		cred.ExpiresAt = expires
	}
	if s.refresh {
		cred.RefreshAfter = refresh
	}
}
