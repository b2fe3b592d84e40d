package v2alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommonStatus is the status block every Skupper resource shares.
type CommonStatus struct {
	// Status is Pending, Error or Ready.
	Status string `json:"status,omitempty"`
	// Message is a human-readable status message.
	Message string `json:"message,omitempty"`
	// Conditions of the resource.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Endpoint is a connection endpoint of a site (host, port, name, group).
type Endpoint struct {
	Name  string `json:"name,omitempty"`
	Host  string `json:"host,omitempty"`
	Port  string `json:"port,omitempty"`
	Group string `json:"group,omitempty"`
}

// SiteSpec is the subset of a Site's spec the operator sets.
type SiteSpec struct {
	// LinkAccess enables links from remote sites: none, default, route, loadbalancer, ...
	LinkAccess string `json:"linkAccess,omitempty"`
	// Settings are advanced settings.
	Settings map[string]string `json:"settings,omitempty"`
}

// SiteStatus is the subset of a Site's status the operator reads.
type SiteStatus struct {
	CommonStatus `json:",inline"`
	// Endpoints are the site's link endpoints; empty until the router is reachable.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// SitesInNetwork is how many sites the router sees.
	SitesInNetwork int `json:"sitesInNetwork,omitempty"`
}

// Site is a place on the Skupper network; one per namespace.
//
// +kubebuilder:object:root=true
type Site struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SiteSpec   `json:"spec,omitempty"`
	Status            SiteStatus `json:"status,omitempty"`
}

// SiteList is a list of Site.
//
// +kubebuilder:object:root=true
type SiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Site `json:"items"`
}

// ListenerSpec binds a local host and port to remote connectors with the same routing key.
type ListenerSpec struct {
	RoutingKey string `json:"routingKey"`
	// Host is the name of the Service the listener creates.
	Host string `json:"host"`
	Port int    `json:"port"`
	Type string `json:"type,omitempty"`
}

// ListenerStatus is the subset of a Listener's status the operator reads.
type ListenerStatus struct {
	CommonStatus         `json:",inline"`
	HasMatchingConnector bool `json:"hasMatchingConnector,omitempty"`
}

// Listener exposes remote connectors' workload as a local Service.
//
// +kubebuilder:object:root=true
type Listener struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ListenerSpec   `json:"spec,omitempty"`
	Status            ListenerStatus `json:"status,omitempty"`
}

// ListenerList is a list of Listener.
//
// +kubebuilder:object:root=true
type ListenerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Listener `json:"items"`
}

// ConnectorSpec binds local pods to remote listeners with the same routing key.
type ConnectorSpec struct {
	RoutingKey string `json:"routingKey"`
	Port       int    `json:"port"`
	// Selector is a label selector string for the workload's pods.
	Selector string `json:"selector,omitempty"`
	Host     string `json:"host,omitempty"`
	Type     string `json:"type,omitempty"`
}

// ConnectorStatus is the subset of a Connector's status the operator reads.
type ConnectorStatus struct {
	CommonStatus        `json:",inline"`
	HasMatchingListener bool `json:"hasMatchingListener,omitempty"`
	// SelectedPods are the pods the connector's selector matched.
	SelectedPods []SelectedPod `json:"selectedPods,omitempty"`
}

// SelectedPod is a pod a Connector routes to.
type SelectedPod struct {
	Name string `json:"name,omitempty"`
	IP   string `json:"ip,omitempty"`
}

// Connector exposes local pods to remote listeners.
//
// +kubebuilder:object:root=true
type Connector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ConnectorSpec   `json:"spec,omitempty"`
	Status            ConnectorStatus `json:"status,omitempty"`
}

// ConnectorList is a list of Connector.
//
// +kubebuilder:object:root=true
type ConnectorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Connector `json:"items"`
}

// AccessGrantSpec asks the site's controller for a redeemable link credential.
type AccessGrantSpec struct {
	RedemptionsAllowed int    `json:"redemptionsAllowed,omitempty"`
	ExpirationWindow   string `json:"expirationWindow,omitempty"`
}

// AccessGrantStatus carries the credential a token needs: url, code and ca.
type AccessGrantStatus struct {
	CommonStatus   `json:",inline"`
	URL            string       `json:"url,omitempty"`
	Code           string       `json:"code,omitempty"`
	CA             string       `json:"ca,omitempty"`
	Redemptions    int          `json:"redemptions,omitempty"`
	ExpirationTime *metav1.Time `json:"expirationTime,omitempty"`
}

// AccessGrant lets remote sites obtain a link to this site.
//
// +kubebuilder:object:root=true
type AccessGrant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AccessGrantSpec   `json:"spec,omitempty"`
	Status            AccessGrantStatus `json:"status,omitempty"`
}

// AccessGrantList is a list of AccessGrant.
//
// +kubebuilder:object:root=true
type AccessGrantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessGrant `json:"items"`
}

// AccessTokenSpec is the credential of a grant, redeemed by the site's controller.
type AccessTokenSpec struct {
	URL      string `json:"url"`
	Code     string `json:"code"`
	CA       string `json:"ca"`
	LinkCost int    `json:"linkCost,omitempty"`
}

// AccessTokenStatus says whether the token was redeemed.
type AccessTokenStatus struct {
	CommonStatus `json:",inline"`
	Redeemed     bool `json:"redeemed,omitempty"`
}

// AccessToken is redeemed for a Link to a remote site.
//
// +kubebuilder:object:root=true
type AccessToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AccessTokenSpec   `json:"spec,omitempty"`
	Status            AccessTokenStatus `json:"status,omitempty"`
}

// AccessTokenList is a list of AccessToken.
//
// +kubebuilder:object:root=true
type AccessTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessToken `json:"items"`
}

// LinkSpec is the subset of a Link's spec the operator reads.
type LinkSpec struct {
	Endpoints      []Endpoint `json:"endpoints,omitempty"`
	TLSCredentials string     `json:"tlsCredentials,omitempty"`
	Cost           int        `json:"cost,omitempty"`
}

// LinkStatus is the subset of a Link's status the operator reads.
type LinkStatus struct {
	CommonStatus   `json:",inline"`
	RemoteSiteID   string `json:"remoteSiteId,omitempty"`
	RemoteSiteName string `json:"remoteSiteName,omitempty"`
}

// Link is a router-to-router link to a remote site, written by a redeemed token.
//
// +kubebuilder:object:root=true
type Link struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LinkSpec   `json:"spec,omitempty"`
	Status            LinkStatus `json:"status,omitempty"`
}

// LinkList is a list of Link.
//
// +kubebuilder:object:root=true
type LinkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Link `json:"items"`
}

func init() {
	SchemeBuilder.Register(
		&Site{}, &SiteList{},
		&Listener{}, &ListenerList{},
		&Connector{}, &ConnectorList{},
		&AccessGrant{}, &AccessGrantList{},
		&AccessToken{}, &AccessTokenList{},
		&Link{}, &LinkList{},
	)
}
