package main

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// bindFlags defines a flag for every field of the struct *v that has a
// `flag:"name"` tag (with its `usage:"…"`), recursing into untagged struct
// fields, so that a setting's field, flag name, help text and default (the
// field's value when bindFlags runs) are stated in one place. The flag's
// kind follows the field's type: int64 fields are byte sizes (500MB, 2GiB),
// []string comma-separated lists, []int port lists, *url.URL a proxy URL,
// and a type with UnmarshalText (slog.Level) its own text form.
func bindFlags(fs *flag.FlagSet, v any) {
	s := reflect.ValueOf(v).Elem()
	for i := range s.NumField() {
		field, value := s.Type().Field(i), s.Field(i)
		name, ok := field.Tag.Lookup("flag")
		if !ok {
			if field.Type.Kind() == reflect.Struct && field.IsExported() {
				bindFlags(fs, value.Addr().Interface())
			}
			continue
		}
		defineFlag(fs, name, field.Tag.Get("usage"), value.Addr().Interface())
	}
}

// defineFlag defines the flag name of the setting *p, its value the default.
func defineFlag(fs *flag.FlagSet, name, usage string, p any) {
	switch p := p.(type) {
	case *string:
		fs.StringVar(p, name, *p, usage)
	case *bool:
		fs.BoolVar(p, name, *p, usage)
	case *int:
		fs.IntVar(p, name, *p, usage)
	case *time.Duration:
		fs.DurationVar(p, name, *p, usage)
	case *int64:
		fs.Var(byteSize{p}, name, usage)
	case *[]string:
		fs.Var(listValue{p}, name, usage)
	case *[]int:
		fs.Var(portList{p}, name, usage)
	case **url.URL:
		fs.Var(proxyURL{p}, name, usage)
	case interface {
		encoding.TextMarshaler
		encoding.TextUnmarshaler
	}:
		fs.TextVar(p, name, p, usage)
	default:
		panic(fmt.Sprintf("bindFlags: no flag kind for %T", p))
	}
}

// byteSize is a flag.Value for sizes such as 500MB or 1GiB.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return humanize.Bytes(uint64(*b.n))
}

func (b byteSize) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<50 {
		return fmt.Errorf("invalid size %q (examples: 500MB, 2GiB)", s)
	}
	*b.n = int64(n)
	return nil
}

// listValue is a flag.Value for comma-separated lists.
type listValue struct{ l *[]string }

func (v listValue) String() string {
	if v.l == nil {
		return ""
	}
	return strings.Join(*v.l, ",")
}

func (v listValue) Set(s string) error {
	*v.l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.ToLower(strings.TrimSpace(part)); part != "" {
			*v.l = append(*v.l, part)
		}
	}
	return nil
}

// portList is a flag.Value for comma-separated port numbers.
type portList struct{ p *[]int }

func (v portList) String() string {
	if v.p == nil {
		return ""
	}
	parts := make([]string, len(*v.p))
	for i, n := range *v.p {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (v portList) Set(s string) error {
	var ports []int
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("invalid port %q", part)
		}
		ports = append(ports, n)
	}
	*v.p = ports
	return nil
}

// proxyURL is a flag.Value for an http(s) proxy URL; empty means none.
type proxyURL struct{ u **url.URL }

func (v proxyURL) String() string {
	if v.u == nil || *v.u == nil {
		return ""
	}
	return (*v.u).Redacted()
}

func (v proxyURL) Set(s string) error {
	if s == "" {
		*v.u = nil
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	*v.u = u
	return nil
}
