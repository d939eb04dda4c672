//! Where `drover load` sends its requests: an agent's listener at an `http://` or `https://`
//! URL (trusting the CA in a PEM file), with the listener's bearer token when it needs one,
//! and the agent's feedback token for feedback.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::http::request::Builder;
use hyper::http::{HeaderMap, HeaderValue, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// An agent's listener.
pub struct Target {
    /// `host:port`.
    pub address: String,
    host: HeaderValue,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    token: Option<HeaderValue>,
    feedback_token: Option<HeaderValue>,
}

/// `token` as an `Authorization: Bearer` value.
fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .context("the token cannot be sent in a header")
}

impl Target {
    /// Plain HTTP to `address` (`host:port`), without a token.
    pub fn plain(address: impl Into<String>) -> anyhow::Result<Self> {
        let address = address.into();
        Ok(Self {
            host: HeaderValue::try_from(address.as_str())
                .context("an address for the host header")?,
            address,
            tls: None,
            token: None,
            feedback_token: None,
        })
    }

    /// The same listener, posting feedback with the agent's feedback `token`.
    pub fn with_feedback_token(mut self, token: &str) -> anyhow::Result<Self> {
        self.feedback_token = Some(bearer(token)?);
        Ok(self)
    }

    /// The listener at `url`: `https://` trusts the certificates in the PEM file `ca`.
    pub fn from_url(url: &str, ca: Option<&Path>, token: Option<&str>) -> anyhow::Result<Self> {
        let (https, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => bail!("the URL must start with http:// or https://, not {url:?}"),
        };
        let address = rest.trim_end_matches('/').to_string();
        let tls = match (https, ca) {
            (false, _) => None,
            (true, None) => bail!(
                "an https:// URL needs --ca FILE: the PEM certificate of the CA that signed the agent's"
            ),
            (true, Some(ca)) => Some(connector(&address, ca)?),
        };
        let token = token.map(bearer).transpose()?;
        Ok(Self {
            host: HeaderValue::try_from(address.as_str())
                .with_context(|| format!("{address:?} cannot be a host header"))?,
            address,
            tls,
            token,
            feedback_token: None,
        })
    }

    /// A new keep-alive connection, its driver spawned.
    pub async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.address)
            .await
            .with_context(|| format!("connecting to {}", self.address))?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(stream).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .with_context(|| format!("TLS with {}", self.address))?;
                handshake(stream).await
            }
        }
    }

    /// A request to `path` with the host and, when there is one, the token.
    pub fn request(&self, method: &str, path: &str) -> Builder {
        let builder = hyper::Request::builder().method(method).uri(path);
        let mut builder = builder;
        if let Some(headers) = builder.headers_mut() {
            self.stamp(headers);
        }
        builder
    }

    /// A feedback request to `path`: with the host and the feedback token.
    pub fn feedback(&self, path: &str) -> Builder {
        let mut builder = hyper::Request::builder().method("POST").uri(path);
        if let Some(headers) = builder.headers_mut() {
            headers.insert(header::HOST, self.host.clone());
            if let Some(token) = &self.feedback_token {
                headers.insert(header::AUTHORIZATION, token.clone());
            }
        }
        builder
    }

    /// Adds the host and, when there is one, the token to `headers`.
    pub fn stamp(&self, headers: &mut HeaderMap) {
        headers.insert(header::HOST, self.host.clone());
        if let Some(token) = &self.token {
            headers.insert(header::AUTHORIZATION, token.clone());
        }
    }

    /// One GET on a fresh connection; the JSON body.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let mut sender = self.connect().await?;
        let request = self.request("GET", path).body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// HTTP/1.1 over `io`, its connection driven by a task of its own.
async fn handshake<I>(io: I) -> anyhow::Result<SendRequest<Full<Bytes>>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A TLS client for `address` trusting only the certificates in `ca`.
fn connector(
    address: &str,
    ca: &Path,
) -> anyhow::Result<(tokio_rustls::TlsConnector, ServerName<'static>)> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.with_context(|| format!("{} is not PEM certificates", ca.display()))?)
            .with_context(|| format!("a certificate in {}", ca.display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", ca.display());
    let config = rustls::ClientConfig::builder_with_provider(drover_protocol::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("{host:?} is not a host name or address"))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_scheme_and_https_needs_a_ca() {
        let plain = Target::from_url("http://127.0.0.1:7500/", None, Some("t")).expect("http");
        assert_eq!(plain.address, "127.0.0.1:7500");
        assert!(plain.tls.is_none());
        let refused = |url: &str| match Target::from_url(url, None, None) {
            Ok(_) => panic!("{url} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(refused("https://agent:7500").contains("--ca"));
        assert!(refused("agent:7500").contains("http://"));
    }
}
