package podworker

import (
	"bufio"
	"os"
	"strings"

	"github.com/opencontainers/runc/libcontainer/apparmor"
	"github.com/opencontainers/selinux/go-selinux"
)

// appArmorProfilesFile lists the loaded profiles, "NAME (MODE)" a line.
const appArmorProfilesFile = "/sys/kernel/security/apparmor/profiles"

// DetectMAC reads what this kernel enforces: AppArmor as libcontainer
// sees it (/sys/kernel/security/apparmor and the module's enabled
// parameter) with its loaded profiles, and SELinux as go-selinux sees it
// (selinuxfs mounted).
func DetectMAC() MACHost {
	h := MACHost{AppArmor: apparmor.IsEnabled(), SELinux: selinux.GetEnabled()}
	if !h.AppArmor {
		return h
	}
	h.AppArmorProfiles = map[string]bool{}
	f, err := os.Open(appArmorProfilesFile)
	if err != nil {
		// Not readable: no profile counts as loaded, so pods that ask for
		// one are refused rather than run unconfined.
		return h
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), " (")
		h.AppArmorProfiles[strings.TrimSpace(name)] = true
	}
	return h
}
