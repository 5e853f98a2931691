package numfmt

import (
	"math"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want Kind
	}{
		{"General", General},
		{BuiltIn(4), Number},
		{BuiltIn(14), Date},
		{BuiltIn(22), DateTime},
		{BuiltIn(20), Time},
		{BuiltIn(46), Number},
		{BuiltIn(49), Text},
		{"@", Text},
		{"", General},
		{"dd/mm/yyyy", Date},
		{"[$-40C]d mmmm yyyy", Date},
		{"mmm-yy", Date},
		{"dd/mm/yyyy hh:mm", DateTime},
		{"h:mm AM/PM", Time},
		{"[h]:mm", Number},
		{`#,##0.00\ "€"`, Number},
		{`#,##0 "jours"`, Number},
		{"0.00%", Number},
		{"[Red]-#,##0.00;#,##0.00", Number},
	}
	for _, tt := range tests {
		if got := Classify(tt.code); got != tt.want {
			t.Errorf("Classify(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestSerialTime(t *testing.T) {
	tests := []struct {
		serial float64
		d1904  bool
		want   string
	}{
		{1, false, "1900-01-01 00:00:00"},
		{59, false, "1900-02-28 00:00:00"},
		{61, false, "1900-03-01 00:00:00"},
		{44958.75, false, "2023-02-01 18:00:00"},
		{0, true, "1904-01-01 00:00:00"},
		{43500.5 - 1462, true, "2019-02-04 12:00:00"},
	}
	for _, tt := range tests {
		got, ok := SerialTime(tt.serial, tt.d1904)
		if !ok || got.Format("2006-01-02 15:04:05") != tt.want {
			t.Errorf("SerialTime(%v, %v) = %v, want %s", tt.serial, tt.d1904, got, tt.want)
		}
	}
	for _, serial := range []float64{-1, 2958467} {
		if _, ok := SerialTime(serial, false); ok {
			t.Errorf("SerialTime(%v) is a date, want none", serial)
		}
	}
}

func TestPlain(t *testing.T) {
	for v, want := range map[float64]string{
		1: "1", -2.5: "-2.5", 0.1 + 0.2: "0.3", 1e20: "100000000000000000000", 123456789012345678: "123456789012346000",
		math.NaN(): "", math.Inf(1): "",
	} {
		if got := Plain(v); got != want {
			t.Errorf("Plain(%v) = %q, want %q", v, got, want)
		}
	}
}
