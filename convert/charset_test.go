package convert

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

// French text in Windows-1252 must stay Windows-1252 however little of it
// there is: it is what most non-UTF-8 files on French portals are.
func TestDetectLegacyKeepsWestern(t *testing.T) {
	for _, text := range []string{
		"a;b\n1;é\n",
		"id;ville\n1;Orléans\n2;Besançon\n",
		"code;libellé;montant\n01;Œuvre d’art;12,5\n02;Prix en €;1 234,56\n",
		"nom;adresse\n" + strings.Repeat("Hélène Ménard;12, rue de l'Église à Saint-Étienne\n", 40),
		"commune;population\n" + strings.Repeat("Châteauneuf-sur-Loire;8000\nÈze;2000\nÎle-d'Aix;230\n", 30),
	} {
		b := encode(t, charmap.Windows1252, text)
		if _, name, _ := detectLegacy(b); name != EncodingCP1252 {
			t.Errorf("detectLegacy(%.40q…) = %s, want %s", text, name, EncodingCP1252)
		}
	}
}

func TestDetectLegacy(t *testing.T) {
	tests := []struct {
		enc  encoding.Encoding
		text string
		want string
	}{
		{charmap.Windows1251, "город;описание\nМосква;столица России\nКазань;столица Татарстана\n", "windows-1251"},
		{charmap.KOI8R, "город;описание\nМосква;столица России\nСамара;город на Волге\nОмск;город в Сибири\n", "koi8-r"},
		{japanese.ShiftJIS, "都市,説明\n東京,日本の首都です\n大阪,西日本の中心です\n", "shift_jis"},
	}
	for _, tt := range tests {
		b := encode(t, tt.enc, strings.Repeat(tt.text, 3))
		if _, name, conf := detectLegacy(b); name != tt.want || conf <= 0 {
			t.Errorf("detectLegacy(%.30q…) = %s (%d), want %s", tt.text, name, conf, tt.want)
		}
	}
}

func TestDetectUTF16(t *testing.T) {
	text := "id;nom\n1;Élodie\n2;Noël\n"
	for _, tt := range []struct {
		enc  encoding.Encoding
		want string
	}{
		{unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), EncodingUTF16LE},
		{unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), EncodingUTF16BE},
		{charmap.Windows1252, ""},
	} {
		if _, name := detectUTF16(encode(t, tt.enc, text)); name != tt.want {
			t.Errorf("detectUTF16 = %q, want %q", name, tt.want)
		}
	}
	if _, name := detectUTF16([]byte("a;b\n1;x\x00y\n2;z\n\x00")); name != "" {
		t.Errorf("UTF-8 with NUL padding detected as %s", name)
	}
}

func encode(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDetectLegacyStable: the detector's Central European models answer
// under Western names, and which of two equal answers it keeps depends on
// its goroutines; the confidence reported must not (the corpus's
// latin1_tab.tsv once came back with 0 instead of 30).
func TestDetectLegacyStable(t *testing.T) {
	head, err := os.ReadFile("../testdata/corpus/csv/latin1_tab.tsv")
	if err != nil {
		t.Fatal(err)
	}
	_, name0, conf0 := detectLegacy(head)
	for range 300 {
		if _, name, conf := detectLegacy(head); name != name0 || conf != conf0 {
			t.Fatalf("detected %s %d, then %s %d", name0, conf0, name, conf)
		}
	}
	if name0 != EncodingCP1252 || conf0 == 0 {
		t.Errorf("detected %s %d, want %s with a confidence", name0, conf0, EncodingCP1252)
	}
}
