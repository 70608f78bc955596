package ocf

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	raDir  = "/usr/share/resource-agents"
	raDTD  = raDir + "/ra-api-1.dtd"
	xmllnt = "/usr/bin/xmllint"
)

// xmllintValid runs what ocf-tester runs: `xmllint --noout --valid -` in
// the DTD's directory, so that the DOCTYPE's relative "ra-api-1.dtd"
// resolves. It returns xmllint's error output, "" when valid.
func xmllintValid(t *testing.T, xml []byte) string {
	t.Helper()
	requireFile(t, xmllnt, "libxml2-utils")
	requireFile(t, raDTD, "resource-agents")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xmllnt, "--noout", "--valid", "-")
	cmd.Dir = raDir
	cmd.Stdin = bytes.NewReader(xml)
	out, err := cmd.CombinedOutput()
	if err == nil && len(out) != 0 {
		t.Fatalf("xmllint succeeded but printed: %s", out)
	}
	if err != nil && len(out) == 0 {
		t.Fatalf("xmllint: %v", err)
	}
	return string(out)
}

func exampleMetaData(t *testing.T, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(exampleAgent(t), "meta-data")
	// Never nil: a nil Env would inherit the test's environment.
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("exampleagent meta-data: %v, stderr %q", err, stderr.String())
	}
	return out
}

func TestMetaDataValidAgainstDTD(t *testing.T) {
	golden10, _ := goldenAgent().MetaData(OCF10)
	plain11, _ := testAgent(Success, nil).MetaData(OCF11)
	for name, xml := range map[string][]byte{
		"exampleagent as ocf-tester runs it":              exampleMetaData(t),
		"golden agent, OCF 1.0":                           golden10,
		"agent without OCF 1.1 features, OCF 1.1 dialect": plain11,
	} {
		t.Run(name, func(t *testing.T) {
			if errs := xmllintValid(t, xml); errs != "" {
				t.Errorf("not valid against %s:\n%s\n%s", raDTD, errs, xml)
			}
		})
	}
}

// TestOCF11FailsDTDOnlyForOCF11Features pins down what the DTD rejects:
// exactly the OCF 1.1 additions, which is why they are kept out of the
// OCF 1.0 dialect. If a future resource-agents DTD accepts them, this fails
// and the dialect switch can be revisited.
func TestOCF11FailsDTDOnlyForOCF11Features(t *testing.T) {
	for name, xml := range map[string][]byte{
		"exampleagent as Pacemaker 2.1 runs it": exampleMetaData(t, "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1"),
		"golden agent":                          func() []byte { b, _ := goldenAgent().MetaData(OCF11); return b }(),
	} {
		t.Run(name, func(t *testing.T) {
			errs := xmllintValid(t, xml)
			if errs == "" {
				t.Fatal("OCF 1.1 meta-data with reload-agent passed the DTD; revisit the dialect switch")
			}
			allowed := regexp.MustCompile(`No declaration for attribute (reloadable|unique-group) of element parameter|` +
				`Value "reload-agent" for attribute name of action is not among the enumerated set`)
			for _, line := range strings.Split(errs, "\n") {
				if strings.Contains(line, "validity error") && !allowed.MatchString(line) {
					t.Errorf("unexpected DTD error: %s", line)
				}
			}
		})
	}
}
