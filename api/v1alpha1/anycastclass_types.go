package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of an AnycastClass (besides Accepted and Ready).
const (
	// ConditionClustersReachable is True when the operator can reach every member cluster's
	// API server and finds the MetalLB, Gateway API and Skupper CRDs there.
	ConditionClustersReachable = "ClustersReachable"
	// ConditionSessionsEstablished is True when every watcher session is Established.
	ConditionSessionsEstablished = "SessionsEstablished"
	// ConditionMetalLBConfigValid is True when the MetalLB of every reachable member accepts
	// its configuration (its ConfigurationState objects say Valid). MetalLB validates its
	// configuration as a whole: one rejected object freezes every later change there.
	ConditionMetalLBConfigValid = "MetalLBConfigValid"
)

// MetalLBMode is the BGP implementation a member's MetalLB runs. The modes accept different
// configuration; the operator never renders a field the member's mode would reject.
// +kubebuilder:validation:Enum=frr;frr-k8s;native
type MetalLBMode string

const (
	// MetalLBModeFRR is MetalLB with its bundled FRR, deprecated upstream since MetalLB
	// 0.16 (whose default backend is frr-k8s): still accepted, with a notice.
	MetalLBModeFRR MetalLBMode = "frr"
	// MetalLBModeFRRK8s is MetalLB delegating BGP to frr-k8s: MetalLB 0.16's default, and
	// this API's.
	MetalLBModeFRRK8s MetalLBMode = "frr-k8s"
	// MetalLBModeNative is MetalLB's own Go BGP speaker: no BFD, no graceful restart, no
	// keepalive or connect timers, no local ASN, no VRF, no IPv6 advertisements, no IPv6
	// peers or source addresses (it cannot even dial one), no large communities, no AS path
	// prepending.
	MetalLBModeNative MetalLBMode = "native"
)

// Interconnect is a member's role in the Skupper network of each ingress namespace.
// +kubebuilder:validation:Enum=hub;spoke
type Interconnect string

const (
	// InterconnectHub accepts links: its Site gets link access and it issues the grants.
	InterconnectHub Interconnect = "hub"
	// InterconnectSpoke links to the hub with a token the operator redeems for it.
	InterconnectSpoke Interconnect = "spoke"
)

// RouterAccessType says how spokes reach the hub's Skupper router.
// +kubebuilder:validation:Enum=loadbalancer;route;default
type RouterAccessType string

const (
	// RouterAccessLoadBalancer exposes the router through a LoadBalancer Service. On bare
	// metal MetalLB must be able to address it from a pool that is not an anycast pool.
	RouterAccessLoadBalancer RouterAccessType = "loadbalancer"
	// RouterAccessRoute exposes the router through an OpenShift Route.
	RouterAccessRoute RouterAccessType = "route"
	// RouterAccessDefault lets Skupper pick the platform default (route on OpenShift,
	// loadbalancer elsewhere).
	RouterAccessDefault RouterAccessType = "default"
)

// NamespacesFrom says which namespaces may use a class.
// +kubebuilder:validation:Enum=All;Selector
type NamespacesFrom string

const (
	// NamespacesFromAll allows every namespace.
	NamespacesFromAll NamespacesFrom = "All"
	// NamespacesFromSelector allows the namespaces whose labels match the selector.
	NamespacesFromSelector NamespacesFrom = "Selector"
)

// AllowedNamespaces restricts which namespaces may hold AnycastIngresses of a class.
// +kubebuilder:validation:XValidation:rule="self.from != 'Selector' || has(self.selector)",message="selector is required when from is Selector"
// +kubebuilder:validation:XValidation:rule="self.from == 'Selector' || !has(self.selector)",message="selector is only allowed when from is Selector"
type AllowedNamespaces struct {
	// from is All (every namespace) or Selector (namespaces matching selector).
	// +kubebuilder:default=All
	// +optional
	From NamespacesFrom `json:"from,omitempty"`

	// selector matches the labels of allowed namespaces when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// GatewayClassTemplate asks the operator to create a GatewayClass on every member.
type GatewayClassTemplate struct {
	// name of the GatewayClass to create. Defaults to "anycast-<class name>".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name,omitempty"`

	// controllerName of the Gateway API implementation that serves the class, for example
	// "gateway.envoyproxy.io/gatewayclass-controller".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$`
	ControllerName string `json:"controllerName"`
}

// GatewayServiceProvisioner says who creates the LoadBalancer Service in front of a
// Gateway's data plane, the Service MetalLB gives the VIP.
// +kubebuilder:validation:Enum=Implementation;Operator
type GatewayServiceProvisioner string

const (
	// GatewayServiceByImplementation: the Gateway API implementation creates one
	// LoadBalancer Service per Gateway and copies the Gateway's spec.infrastructure labels
	// and annotations onto it (Envoy Gateway, Istio and OpenShift's default class, Cilium,
	// NGINX Gateway Fabric). The operator puts the MetalLB annotations there.
	GatewayServiceByImplementation GatewayServiceProvisioner = "Implementation"
	// GatewayServiceByOperator: the implementation serves every Gateway from one shared
	// data plane and makes no Service per Gateway (Traefik). The operator creates a
	// LoadBalancer Service per ingress that selects the data plane's pods.
	GatewayServiceByOperator GatewayServiceProvisioner = "Operator"
)

// ServicePortMapping maps a listener port to the port the data plane listens on.
type ServicePortMapping struct {
	// port is the listener's port, as clients reach it on the VIP.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// targetPort is the data plane's port for that listener (Traefik: its entry point's
	// port).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TargetPort int32 `json:"targetPort"`
}

// CertificateSource says where a listener's certificate comes from.
// +kubebuilder:validation:Enum=Hub;Member
type CertificateSource string

const (
	// CertificateSourceHub: the Secrets a listener's tls.certificateRefs name are read in
	// the ingress namespace on the hub and copied to every other member that serves the
	// ingress (as "<ingress>.<secret>", which that member's Gateway refers to), kept in sync
	// and removed with the ingress: every member serves the same certificate.
	CertificateSourceHub CertificateSource = "Hub"
	// CertificateSourceMember: each member has its own issuer; the Secrets are read where
	// they are and never copied.
	CertificateSourceMember CertificateSource = "Member"
)

// Certificates is where the HTTPS listeners' certificates come from.
type Certificates struct {
	// source: Hub (default) copies the hub's Secrets to the members; Member leaves each
	// member's own Secrets in place.
	// +kubebuilder:default=Hub
	// +optional
	Source CertificateSource `json:"source,omitempty"`

	// minValidity: a member whose certificate for an HTTPS listener expires sooner than
	// this is unhealthy (withdrawn by the health gate under its usual rules, never the
	// last member). Default 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	MinValidity *metav1.Duration `json:"minValidity,omitempty"`

	// warnBefore: a Warning event CertificateExpiringSoon is recorded on the ingress when a
	// member's certificate expires sooner than this (once, when it first does). Default
	// 336h (14 days; cert-manager renews a 90-day certificate 30 days ahead).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	WarnBefore *metav1.Duration `json:"warnBefore,omitempty"`
}

// Default certificate thresholds.
const (
	DefaultCertificateMinValidity = 24 * time.Hour
	DefaultCertificateWarnBefore  = 14 * 24 * time.Hour
)

// MinValidityOrDefault is minValidity, 24h when unset.
func (c *Certificates) MinValidityOrDefault() time.Duration {
	if c == nil || c.MinValidity == nil {
		return DefaultCertificateMinValidity
	}
	return c.MinValidity.Duration
}

// WarnBeforeOrDefault is warnBefore, 14 days when unset.
func (c *Certificates) WarnBeforeOrDefault() time.Duration {
	if c == nil || c.WarnBefore == nil {
		return DefaultCertificateWarnBefore
	}
	return c.WarnBefore.Duration
}

// SourceOrDefault is the certificate source, Hub when unset.
func (c *Certificates) SourceOrDefault() CertificateSource {
	if c == nil || c.Source == "" {
		return CertificateSourceHub
	}
	return c.Source
}

// GatewayService says how the VIP reaches the LoadBalancer Service in front of each
// Gateway's data plane, and where that Service lives, so that MetalLB gives exactly that
// Service the VIP and no other Service can take it. docs/gateway-implementations.md says
// what each implementation needs.
// +kubebuilder:validation:XValidation:rule="!has(self.provisioner) || self.provisioner != 'Operator' || (has(self.namespace) && has(self.selector))",message="provisioner Operator needs namespace and selector: where the shared data plane's pods run and how to select them"
// +kubebuilder:validation:XValidation:rule="(has(self.provisioner) && self.provisioner == 'Operator') || (!has(self.selector) && !has(self.ports) && !has(self.externalTrafficPolicy))",message="selector, ports and externalTrafficPolicy are only used with provisioner Operator"
// +kubebuilder:validation:XValidation:rule="!(has(self.provisioner) && self.provisioner == 'Operator' && has(self.specAddresses) && self.specAddresses)",message="specAddresses is only used with provisioner Implementation"
type GatewayService struct {
	// provisioner is who creates the Service: Implementation (default; one Service per
	// Gateway, made by the Gateway API implementation) or Operator (the operator makes one
	// per ingress in front of a shared data plane).
	// +kubebuilder:default=Implementation
	// +optional
	Provisioner GatewayServiceProvisioner `json:"provisioner,omitempty"`

	// namespace the Service lives in. With Implementation: where the implementation puts a
	// Gateway's Service; unset means the Gateway's own namespace (Istio, OpenShift, Envoy
	// Gateway in its GatewayNamespace deploy mode), while Envoy Gateway's default deploy
	// mode uses its controller's namespace (envoy-gateway-system). With Operator: the
	// namespace of the shared data plane's pods (required). The VIP's IPAddressPool admits
	// only this namespace, and in it only the Service labelled for this ingress.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// specAddresses also writes the VIP into each Gateway's spec.addresses (Implementation
	// only). Off by default: the MetalLB annotations the implementation copies onto the
	// Service already ask for the VIP, while some implementations turn spec.addresses into
	// the Service's externalIPs (Envoy Gateway), which OpenShift and API servers running the
	// DenyServiceExternalIPs admission plugin refuse, and then report the address as
	// assigned whether or not MetalLB assigned it. Turn it on for an implementation that
	// needs spec.addresses to pick the address.
	// +optional
	SpecAddresses bool `json:"specAddresses,omitempty"`

	// selector matches the shared data plane's pods (Operator only), for example
	// {app.kubernetes.io/name: traefik}.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	Selector map[string]string `json:"selector,omitempty"`

	// ports maps listener ports to the data plane's ports (Operator only); a listener port
	// not listed targets the same port number.
	// +optional
	// +listType=map
	// +listMapKey=port
	// +kubebuilder:validation:MaxItems=64
	Ports []ServicePortMapping `json:"ports,omitempty"`

	// externalTrafficPolicy of the Service the operator creates (Operator only): Cluster
	// (default) or Local. With Local, MetalLB announces the VIP only from nodes that run a
	// ready data plane pod.
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy string `json:"externalTrafficPolicy,omitempty"`
}

// Provisioned returns who creates the Service, applying the default.
func (g *GatewayService) Provisioned() GatewayServiceProvisioner {
	if g == nil || g.Provisioner == "" {
		return GatewayServiceByImplementation
	}
	return g.Provisioner
}

// BFDSettings are the BFD timers of one peer; peers with equal settings share one MetalLB
// BFDProfile. Not available in MetalLB native mode.
type BFDSettings struct {
	// receiveInterval is the lowest interval, in milliseconds, at which this system can
	// receive control packets.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	ReceiveInterval *int32 `json:"receiveInterval,omitempty"`

	// transmitInterval is the lowest interval, in milliseconds, at which this system sends
	// control packets.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	TransmitInterval *int32 `json:"transmitInterval,omitempty"`

	// detectMultiplier is how many packets may be lost before the session goes down.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`

	// echoMode enables BFD echo packets.
	// +optional
	EchoMode *bool `json:"echoMode,omitempty"`

	// echoInterval is the minimal echo receive interval in milliseconds.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	EchoInterval *int32 `json:"echoInterval,omitempty"`

	// passiveMode makes this end wait for the peer's control packets before sending.
	// +optional
	PassiveMode *bool `json:"passiveMode,omitempty"`

	// minimumTtl is, for multihop sessions only, the lowest TTL accepted on packets.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	MinimumTTL *int32 `json:"minimumTtl,omitempty"`
}

// Peer is one BGP neighbour of a member cluster's MetalLB speakers, usually a top-of-rack
// router. It becomes one MetalLB BGPPeer on that member.
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) < duration(self.holdTime)",message="keepaliveTime must be lower than holdTime"
type Peer struct {
	// name of the peer, unique within the cluster entry.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// address of the peer, IPv4 or IPv6. MetalLB in native mode cannot dial an IPv6 peer
	// ("too many colons in address"): a native member with one would replace its working
	// sessions with a dead one, so the operator refuses it there (UnsupportedByMetalLBMode).
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="address must be an IPv4 or IPv6 address"
	Address string `json:"address"`

	// asn is the peer's autonomous system number (1..4294967295).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	ASN int64 `json:"asn"`

	// port is the peer's BGP port. MetalLB uses 179 when unset, and accepts at most 16384.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	Port *int32 `json:"port,omitempty"`

	// sourceAddress is the local address the session starts from.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="sourceAddress must be an IPv4 or IPv6 address"
	SourceAddress string `json:"sourceAddress,omitempty"`

	// holdTime is the requested BGP hold time: 0s (no keepalives) or at least 3s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",message="holdTime must be 0s or between 3s and 65535s"
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// keepaliveTime is the requested keepalive interval; lower than holdTime. Not
	// available in MetalLB native mode.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('65535s')",message="keepaliveTime must be at most 65535s"
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// connectTime is how long a connection attempt may take before it is retried, in whole
	// seconds from 1s to 65535s. Not available in MetalLB native mode.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('65535s')",message="connectTime must be between 1s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="connectTime must be a whole number of seconds (MetalLB refuses fractions)"
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// ebgpMultiHop allows the peer to be more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// localASN overrides the cluster's ASN for this session (FRR modes only).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	LocalASN *int64 `json:"localASN,omitempty"`

	// vrf is the VRF the session runs in (FRR modes only).
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]+$`
	VRF string `json:"vrf,omitempty"`

	// enableGracefulRestart turns on BGP graceful restart (FRR modes only).
	// +optional
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// passwordSecretRef names the TCP MD5 password of the session: a Secret in the
	// operator's namespace on the hub; key defaults to "password". The operator copies it to
	// each member as a kubernetes.io/basic-auth Secret in the MetalLB namespace.
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`

	// bfd enables BFD on the session with these timers (FRR modes only).
	// +optional
	BFD *BFDSettings `json:"bfd,omitempty"`

	// nodeSelectors limit the nodes whose speakers peer with this router (one selector per
	// rack, for example). Empty means every node.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
}

// RouterAccess says how spokes reach the hub's Skupper router.
// +kubebuilder:validation:XValidation:rule="self.type == 'loadbalancer' || !has(self.pool)",message="pool is only used with type loadbalancer"
type RouterAccess struct {
	// type is loadbalancer (plain Kubernetes with MetalLB), route (OpenShift) or default
	// (Skupper's platform default).
	// +kubebuilder:default=default
	// +optional
	Type RouterAccessType `json:"type,omitempty"`

	// pool is the MetalLB IPAddressPool (not an anycast pool) that addresses the router's
	// LoadBalancer Service when type is loadbalancer.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Pool string `json:"pool,omitempty"`
}

// ClusterMember is one cluster that serves the class's VIPs.
// +kubebuilder:validation:XValidation:rule="!has(self.routerAccess) || self.interconnect == 'hub'",message="routerAccess is only used on the hub member"
type ClusterMember struct {
	// name of the member, unique within the class. It is also the Skupper site name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// kubeconfigSecretRef names a Secret in the operator's namespace holding a kubeconfig for
	// this member; key defaults to "kubeconfig". Absent means the cluster the operator runs
	// in.
	// +optional
	KubeconfigSecretRef *SecretKeyReference `json:"kubeconfigSecretRef,omitempty"`

	// asn is the member's own autonomous system number, used by its MetalLB speakers. The
	// watcher recognises the member as the origin AS of a path, so members need distinct
	// ASNs.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	ASN int64 `json:"asn"`

	// interconnect is the member's Skupper role: hub (accepts links, issues grants) or spoke
	// (links to the hub). A class with more than one member has exactly one hub.
	// +kubebuilder:default=spoke
	// +optional
	Interconnect Interconnect `json:"interconnect,omitempty"`

	// metallbMode is the BGP implementation of this member's MetalLB: frr-k8s (default, as
	// in MetalLB 0.16), frr (MetalLB's bundled FRR, deprecated upstream: accepted, with a
	// notice in status.clusters[].notices and an event) or native. The operator refuses, per
	// member and in status, what the mode cannot do, before anything is applied: MetalLB
	// validates its configuration as a whole, and one object its mode rejects (a
	// BFDProfile, an IPv6 pool or peer in native mode) makes it reject every later change on
	// that member.
	// +kubebuilder:default=frr-k8s
	// +optional
	MetalLBMode MetalLBMode `json:"metallbMode,omitempty"`

	// routerAccess says how spokes reach this hub's Skupper router. Only on the hub.
	// +optional
	RouterAccess *RouterAccess `json:"routerAccess,omitempty"`

	// drain drains the member for every ingress of the class, for the whole cluster's
	// maintenance, in the given mode. Unset: the member serves.
	// +optional
	Drain *DrainPolicy `json:"drain,omitempty"`

	// peers are the member's BGP neighbours; each becomes a MetalLB BGPPeer. A BGPPeer is
	// rewritten only when a field of that peer (or the member's asn, or the peer's password
	// Secret) changes, and MetalLB answers a rewritten BGPPeer by resetting that session:
	// the member's VIPs leave that router until it is back up. No other class edit (pools,
	// other peers, other members, the watcher, drains) rewrites it.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Peers []Peer `json:"peers,omitempty"`

	// receive says what this member's nodes learn from its peers, instead of the class's
	// spec.receive (mode None turns it off here). Not available in MetalLB native mode.
	// +optional
	Receive *ReceiveRoutes `json:"receive,omitempty"`
}

// WatcherSession is one receive-only BGP session of the watcher, usually to a core router.
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) < duration(self.holdTime)",message="keepaliveTime must be lower than holdTime"
type WatcherSession struct {
	// name of the session, unique within the watcher.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// address of the router, IPv4 or IPv6.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="address must be an IPv4 or IPv6 address"
	Address string `json:"address"`

	// asn of the router.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	ASN int64 `json:"asn"`

	// port of the router's BGP listener; 179 when unset.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`

	// localAddress is the address the watcher connects from.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="localAddress must be an IPv4 or IPv6 address"
	LocalAddress string `json:"localAddress,omitempty"`

	// multihop is the TTL of an eBGP multihop session; unset means a directly connected
	// peer.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	Multihop *int32 `json:"multihop,omitempty"`

	// holdTime of the session; 90s when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('3s') && duration(self) <= duration('65535s')",message="holdTime must be between 3s and 65535s"
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// keepaliveTime of the session; a third of holdTime when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('21845s')",message="keepaliveTime must be between 1s and 21845s"
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// connectRetry is the delay between connection attempts; 5s when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('3600s')",message="connectRetry must be between 1s and 3600s"
	ConnectRetry *metav1.Duration `json:"connectRetry,omitempty"`

	// passwordSecretRef names the TCP MD5 password: a Secret in the operator's namespace;
	// key defaults to "password".
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`

	// addPathReceive asks the router to send every path it has, not only its best one
	// (BGP ADD-PATH, RFC 7911). Needed to see every member through one core session; the
	// router must be configured to send them (FRR: addpath-tx-all-paths). Default true.
	// +kubebuilder:default=true
	// +optional
	AddPathReceive *bool `json:"addPathReceive,omitempty"`

	// maxPrefixes is the most prefixes the router may send on this session, per address
	// family (IPv4, IPv6 unicast), counted before the pools filter them; a prefix sent with
	// several ADD-PATH paths (one per cluster from a core) counts once. Beyond it the
	// watcher closes the session (Cease, maximum number of prefixes) and keeps it down until
	// its configuration changes. Set it above the number of VIPs. Default 10000.
	// +kubebuilder:default=10000
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxPrefixes *int64 `json:"maxPrefixes,omitempty"`
}

// Watcher configures the operator's embedded watcher, which verifies from the routers' side
// which member clusters the routers see as origins of each VIP: receive-only BGP sessions to
// the routers, a BMP collector the routers stream to, or both, feeding one view. It never
// advertises a route and accepts only prefixes inside the class pools.
// +kubebuilder:validation:XValidation:rule="has(self.sessions) || has(self.bmp)",message="the watcher needs sessions, bmp or both"
// +kubebuilder:validation:XValidation:rule="!has(self.sessions) || (has(self.asn) && has(self.routerID))",message="asn and routerID are required with sessions: they are the watcher's in its BGP OPEN"
// +kubebuilder:validation:XValidation:rule="!has(self.sessions) || !has(self.bmp) || self.sessions.all(s, self.bmp.routers.all(r, r.name != s.name))",message="a BMP router cannot have a session's name: status.paths name one or the other"
type Watcher struct {
	// asn of the watcher, in its BGP sessions' OPEN. Required with sessions.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	ASN int64 `json:"asn,omitempty"`

	// routerID of the watcher, an IPv4 address, in its BGP sessions' OPEN. Required with
	// sessions.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="routerID must be an IPv4 address"
	RouterID string `json:"routerID,omitempty"`

	// sessions to the routers whose view the watcher reports.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Sessions []WatcherSession `json:"sessions,omitempty"`

	// bmp is a BMP collector (BGP Monitoring Protocol, RFC 7854): the routers connect to the
	// operator and stream, per neighbour, the routes they receive (pre- and post-policy
	// Adj-RIB-In) or select (Loc-RIB), read-only: nothing is ever sent to a router. It needs
	// no BGP session on the routers, only their BMP configuration (FRR: bgpd -M bmp, `bmp
	// targets`). Only the operator's leader listens.
	// +optional
	BMP *BMPCollector `json:"bmp,omitempty"`
}

// BMPCollector is the watcher's BMP collector: where it listens and which routers may stream.
type BMPCollector struct {
	// listenAddress is the address the collector listens on, in the operator's network; "::"
	// (every address, IPv4 included) when unset. The routers must reach it: expose the port.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="listenAddress must be an IPv4 or IPv6 address"
	ListenAddress string `json:"listenAddress,omitempty"`

	// port the collector listens on; 11019 when unset (BMP has no well-known port; 11019 is
	// a common collector default). Two classes need distinct ports or addresses.
	// +kubebuilder:default=11019
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`

	// routers allowed to stream, by the source address of their connection. A connection from
	// any other address is closed before anything is read, and listed in
	// status.bmp.refused.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.filter(b, ip(b.address) == ip(a.address)).size() == 1)",message="each router needs its own address: a connection is matched to its router by source address"
	Routers []BMPRouter `json:"routers"`
}

// BMPRouter is one router allowed to stream BMP to the watcher.
type BMPRouter struct {
	// name of the router, unique within the watcher (sessions included): status.paths name
	// it as the session that saw a path.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// address the router connects from, IPv4 or IPv6 (FRR: the source of its `bmp connect`).
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="address must be an IPv4 or IPv6 address"
	Address string `json:"address"`

	// maxPrefixes is the most prefixes the router may report for one of its neighbours, per
	// address family and per table (pre-policy, post-policy, Loc-RIB), counted before the pools
	// filter them, as a session's maxPrefixes. Beyond it the collector drops the router's stream
	// and view, and refuses its connections until this router's configuration changes.
	// Default 10000.
	// +kubebuilder:default=10000
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxPrefixes *int64 `json:"maxPrefixes,omitempty"`

	// maxPeers is the most neighbours (and Loc-RIB instances) the router may report at once;
	// neighbours that went down make room. Beyond it, as beyond maxPrefixes. With maxPrefixes
	// it bounds what the collector keeps for the router. Default 64.
	// +kubebuilder:default=64
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	MaxPeers *int32 `json:"maxPeers,omitempty"`
}

// AnycastClassSpec is the fabric: member clusters, their BGP peers, the anycast pools and
// the watcher. Owned by the network or platform team.
// +kubebuilder:validation:XValidation:rule="has(self.gatewayClassName) != has(self.gatewayClass)",message="exactly one of gatewayClassName and gatewayClass must be set"
type AnycastClassSpec struct {
	// pools are the prefixes (CIDR, IPv4 or IPv6) AnycastIngresses of this class take their
	// VIPs from. The watcher accepts only routes inside them.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="each pool must be a CIDR such as 192.168.155.0/24 or 2001:db8::/64"
	// +kubebuilder:validation:items:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="each pool must be written with its host bits zero, e.g. 192.168.155.0/24 rather than 192.168.155.1/24"
	Pools []string `json:"pools"`

	// allowedNamespaces restricts the namespaces that may use this class. Default: all.
	// +optional
	AllowedNamespaces *AllowedNamespaces `json:"allowedNamespaces,omitempty"`

	// gatewayClassName is an existing GatewayClass the rendered Gateways use. Exactly one of
	// gatewayClassName and gatewayClass is set.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	GatewayClassName string `json:"gatewayClassName,omitempty"`

	// gatewayClass asks the operator to create the GatewayClass on every member.
	// +optional
	GatewayClass *GatewayClassTemplate `json:"gatewayClass,omitempty"`

	// gatewayService says how each Gateway's LoadBalancer Service gets the VIP: who creates
	// it and in which namespace. Default: the Gateway API implementation creates it in the
	// Gateway's namespace and copies the MetalLB annotations from the Gateway.
	// +optional
	GatewayService *GatewayService `json:"gatewayService,omitempty"`

	// certificates says where the certificates of the HTTPS listeners of the class's
	// ingresses come from. Default: from the hub, copied to every member.
	// +optional
	Certificates *Certificates `json:"certificates,omitempty"`

	// metallbNamespace is where MetalLB runs on every member; its objects are written there.
	// +kubebuilder:default=metallb-system
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	MetalLBNamespace string `json:"metallbNamespace,omitempty"`

	// clusters are the members that serve every VIP of the class (at most 64: a hub's
	// memory and work grow linearly with them, docs/performance.md; more sites are more
	// classes, each with its own hub).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.filter(c, has(c.interconnect) && c.interconnect == 'hub').size() <= 1",message="at most one cluster may be the interconnect hub"
	// +kubebuilder:validation:XValidation:rule="self.size() == 1 || self.filter(c, has(c.interconnect) && c.interconnect == 'hub').size() == 1",message="a class with more than one cluster needs exactly one cluster with interconnect: hub"
	// +kubebuilder:validation:XValidation:rule="self.filter(c, !has(c.kubeconfigSecretRef)).size() <= 1",message="at most one cluster may omit kubeconfigSecretRef (the cluster the operator runs in)"
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.filter(b, b.asn == a.asn).size() == 1)",message="cluster ASNs must be distinct: the watcher tells members apart by origin AS"
	Clusters []ClusterMember `json:"clusters"`

	// watcher configures the embedded receive-only BGP speaker that verifies, from the
	// routers' side, which clusters advertise each VIP. Optional.
	// +optional
	Watcher *Watcher `json:"watcher,omitempty"`

	// receive says what every member's nodes learn from their peers over the sessions
	// MetalLB opens (a member's own receive replaces it). Unset: nothing, as MetalLB does.
	// Not available in MetalLB native mode.
	// +optional
	Receive *ReceiveRoutes `json:"receive,omitempty"`
}

// ClusterStatus is the operator's view of one member.
type ClusterStatus struct {
	// name of the member.
	Name string `json:"name"`
	// reachable is true when the member's API server answered and has the needed CRDs.
	Reachable bool `json:"reachable"`
	// reason is a CamelCase word for why the member is or is not reachable.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message says what is wrong, in words a person can act on.
	// +optional
	Message string `json:"message,omitempty"`
	// lastTransitionTime is when reachable last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// metallb is MetalLB's own verdict on the member's configuration, from its
	// ConfigurationState objects (MetalLB v0.15.3 and later): Valid, Invalid or Unknown
	// (no verdict published). Invalid means MetalLB rejects its whole configuration and
	// keeps the last good one: nothing the operator changes there takes effect.
	// +optional
	MetalLB string `json:"metallb,omitempty"`
	// metallbMessage is MetalLB's error summary per component when it rejects its
	// configuration.
	// +optional
	MetalLBMessage string `json:"metallbMessage,omitempty"`
	// kubeconfigSecretRef is how the member was reached, remembered so that a member
	// removed from spec.clusters can still be cleaned up.
	// +optional
	KubeconfigSecretRef *SecretKeyReference `json:"kubeconfigSecretRef,omitempty"`
	// removed is true for a member no longer in spec.clusters whose objects are still
	// being removed (it was unreachable when it left the class).
	// +optional
	Removed bool `json:"removed,omitempty"`
	// speakers is the member's speakers' own view of their BGP sessions to its peers, per
	// peer, from frr-k8s (MetalLB in frr-k8s mode; its BGPSessionState objects).
	// +optional
	// +listType=map
	// +listMapKey=peer
	Speakers []SpeakerSessionStatus `json:"speakers,omitempty"`
	// notices are what the platform team should know about the member that stops nothing
	// (a MetalLB mode deprecated upstream, a setting that needs a session reset to apply).
	// +optional
	Notices []string `json:"notices,omitempty"`
}

// SessionStatus is the state of one watcher session.
type SessionStatus struct {
	// name of the session.
	Name string `json:"name"`
	// state of the BGP session: Idle, Connect, Active, OpenSent, OpenConfirm, Established.
	State string `json:"state"`
	// since is when the session entered its state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// receivedPrefixes is how many prefixes the router sent.
	// +optional
	ReceivedPrefixes int64 `json:"receivedPrefixes,omitempty"`
	// acceptedPrefixes is how many of them fell inside the class pools.
	// +optional
	AcceptedPrefixes int64 `json:"acceptedPrefixes,omitempty"`
	// message explains a session that is not established (wrong password, max-prefix
	// exceeded, connection refused, ...).
	// +optional
	Message string `json:"message,omitempty"`
}

// BMPStatus is the state of the watcher's BMP collector.
type BMPStatus struct {
	// listening is true while the collector accepts connections.
	Listening bool `json:"listening"`
	// address the collector listens on.
	// +optional
	Address string `json:"address,omitempty"`
	// message says why the collector does not listen.
	// +optional
	Message string `json:"message,omitempty"`
	// routers is the state of each router's BMP session.
	// +optional
	// +listType=map
	// +listMapKey=name
	Routers []BMPRouterStatus `json:"routers,omitempty"`
	// refused lists the latest source addresses whose connections were refused because no
	// router of the class has them, newest first (at most 8).
	// +optional
	Refused []BMPRefusedStatus `json:"refused,omitempty"`
}

// BMPRouterStatus is one router's BMP session.
type BMPRouterStatus struct {
	// name of the router.
	Name string `json:"name"`
	// connected is true while the router streams.
	Connected bool `json:"connected"`
	// since is when the router connected, or last disconnected.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// sysName is the name the router gave in its Initiation message.
	// +optional
	SysName string `json:"sysName,omitempty"`
	// synced is true once the router has sent its whole view: an End-of-RIB from every
	// neighbour that is up, or a quiet period. Before, a missing path proves nothing.
	// +optional
	Synced bool `json:"synced,omitempty"`
	// receivedPrefixes sums the prefixes the router reports per neighbour, before the pools
	// filter them.
	// +optional
	ReceivedPrefixes int64 `json:"receivedPrefixes,omitempty"`
	// acceptedPrefixes is how many of them fall inside the class pools.
	// +optional
	AcceptedPrefixes int64 `json:"acceptedPrefixes,omitempty"`
	// message explains a router that is not connected, or why its last stream ended
	// (closed, cut mid-message, over its limits, ...).
	// +optional
	Message string `json:"message,omitempty"`
	// peers are the neighbours the router reports (the monitored peers).
	// +optional
	Peers []BMPPeerStatus `json:"peers,omitempty"`
}

// BMPPeerStatus is one neighbour a router reports over BMP.
type BMPPeerStatus struct {
	// address of the neighbour; empty for the router's Loc-RIB.
	// +optional
	Address string `json:"address,omitempty"`
	// locRIB is true for the router's own selected routes (RFC 9069) rather than a neighbour's.
	// +optional
	LocRIB bool `json:"locRIB,omitempty"`
	// asn of the neighbour.
	// +optional
	ASN int64 `json:"asn,omitempty"`
	// up is true while the router's session with the neighbour is up.
	Up bool `json:"up"`
	// since is when the neighbour came up or went down.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// tables the router reports for it: PrePolicy, PostPolicy, LocRIB.
	// +optional
	Tables []string `json:"tables,omitempty"`
	// receivedPrefixes is how many prefixes the router reports for it (its largest table).
	// +optional
	ReceivedPrefixes int64 `json:"receivedPrefixes,omitempty"`
	// acceptedPrefixes is how many of them fall inside the class pools.
	// +optional
	AcceptedPrefixes int64 `json:"acceptedPrefixes,omitempty"`
	// reportedRoutes is the router's own count of the neighbour's Adj-RIB-In, from its BMP
	// statistics reports, when it sends them.
	// +optional
	ReportedRoutes *int64 `json:"reportedRoutes,omitempty"`
	// message is why the neighbour went down, from the router's Peer Down.
	// +optional
	Message string `json:"message,omitempty"`
}

// BMPRefusedStatus is a source address whose BMP connections were refused.
type BMPRefusedStatus struct {
	// address the connections came from.
	Address string `json:"address"`
	// attempts counts the refused connections from it.
	Attempts int64 `json:"attempts"`
	// lastAttempt is when the latest was refused.
	// +optional
	LastAttempt *metav1.Time `json:"lastAttempt,omitempty"`
}

// AnycastClassStatus is the observed state of an AnycastClass.
type AnycastClassStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Accepted, ClustersReachable, SessionsEstablished, MetalLBConfigValid, OriginsExplained, Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clusters is the reachability of each member.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ClusterStatus `json:"clusters,omitempty"`

	// sessions is the state of each watcher session.
	// +optional
	// +listType=map
	// +listMapKey=name
	Sessions []SessionStatus `json:"sessions,omitempty"`

	// bmp is the state of the watcher's BMP collector and of each router streaming to it.
	// +optional
	BMP *BMPStatus `json:"bmp,omitempty"`

	// unexpectedOrigins are the prefixes and origin ASes the watcher sees inside the pools
	// that no ingress explains (see the OriginsExplained condition), sorted by prefix and
	// origin AS, at most 32. Only reported: nothing is withdrawn or changed because of them.
	// +optional
	// +listType=map
	// +listMapKey=prefix
	// +listMapKey=originAS
	// +kubebuilder:validation:MaxItems=32
	UnexpectedOrigins []UnexpectedOrigin `json:"unexpectedOrigins,omitempty"`

	// ingresses is how many AnycastIngresses use this class.
	// +optional
	Ingresses int32 `json:"ingresses,omitempty"`
}

// AnycastClass describes an anycast fabric: the member clusters that serve its VIPs, their
// BGP peers and MetalLB modes, the pools VIPs come from and the watcher sessions that verify
// advertisements. Cluster-scoped; owned by the network or platform team.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=acc,categories=anycast
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.pools`
// +kubebuilder:printcolumn:name="Clusters",type=string,JSONPath=`.spec.clusters[*].name`
// +kubebuilder:printcolumn:name="Ingresses",type=integer,JSONPath=`.status.ingresses`
// +kubebuilder:printcolumn:name="Reachable",type=string,JSONPath=`.status.conditions[?(@.type=="ClustersReachable")].status`
// +kubebuilder:printcolumn:name="Sessions",type=string,JSONPath=`.status.conditions[?(@.type=="SessionsEstablished")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="metadata.name must be a DNS label (lowercase letters, digits and '-', at most 63 characters): it labels every rendered object"
type AnycastClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired fabric.
	Spec AnycastClassSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status AnycastClassStatus `json:"status,omitempty"`
}

// AnycastClassList is a list of AnycastClass.
//
// +kubebuilder:object:root=true
type AnycastClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnycastClass `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AnycastClass{}, &AnycastClassList{})
}

// Member returns the class member with the given name, or nil.
func (c *AnycastClass) Member(name string) *ClusterMember {
	for i := range c.Spec.Clusters {
		if c.Spec.Clusters[i].Name == name {
			return &c.Spec.Clusters[i]
		}
	}
	return nil
}

// Hub returns the interconnect hub member, or nil when the class has none.
func (c *AnycastClass) Hub() *ClusterMember {
	for i := range c.Spec.Clusters {
		if c.Spec.Clusters[i].Interconnect == InterconnectHub {
			return &c.Spec.Clusters[i]
		}
	}
	return nil
}

// Mode returns the member's MetalLB mode, applying the API default (frr-k8s, as in
// MetalLB 0.16).
func (m *ClusterMember) Mode() MetalLBMode {
	if m.MetalLBMode == "" {
		return MetalLBModeFRRK8s
	}
	return m.MetalLBMode
}
