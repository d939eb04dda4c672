//! Joining with bad tokens: reused, expired, forged secret, forged CA pin. Each fails with a
//! one-line reason and stores nothing, on the agent or the coordinator.

use drover_protocol::token::JoinToken;
use drover_tests::{agents, start_coordinator, token};

async fn join(token: &str, dir: &std::path::Path) -> Result<String, String> {
    drover_agent::enroll::join(token, dir, None, "test-host")
        .await
        .map(|s| s.agent_id.0)
        .map_err(|e| e.to_string())
}

fn assert_nothing_stored(dir: &std::path::Path) {
    assert!(
        !dir.join("agent.json").exists() && !dir.join("agent.key").exists(),
        "state written after a failed join"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let handle = coordinator.handle();

    let single = token(&handle, 1, 60).await;
    join(&single, &tmp.path().join("first"))
        .await
        .expect("first use joins");
    let reused = tmp.path().join("reused");
    let err = join(&single, &reused)
        .await
        .expect_err("second use is refused");
    assert!(err.contains("already been used"), "{err}");
    assert_nothing_stored(&reused);

    let short = token(&handle, 1, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = tmp.path().join("expired");
    let err = join(&short, &expired)
        .await
        .expect_err("expired token is refused");
    assert!(err.contains("expired"), "{err}");
    assert_nothing_stored(&expired);

    let mut forged = JoinToken::decode(&token(&handle, 5, 60).await).expect("decodes");
    forged.secret = "guessed".into();
    let wrong_secret = tmp.path().join("wrong-secret");
    let err = join(&forged.encode(), &wrong_secret)
        .await
        .expect_err("forged secret is refused");
    assert!(err.contains("unknown join token"), "{err}");
    assert_nothing_stored(&wrong_secret);

    let mut pinned_elsewhere = JoinToken::decode(&token(&handle, 5, 60).await).expect("decodes");
    pinned_elsewhere.ca_sha256 = [7; 32];
    let wrong_ca = tmp.path().join("wrong-ca");
    let err = join(&pinned_elsewhere.encode(), &wrong_ca)
        .await
        .expect_err("unpinned coordinator is refused");
    assert!(err.contains("does not match the fingerprint"), "{err}");
    assert_nothing_stored(&wrong_ca);

    assert_eq!(
        agents(&handle).await.len(),
        1,
        "only the one good join is recorded"
    );
    assert!(!err.contains('\n'), "reasons are one line");
    coordinator.stop().await;
}

#[tokio::test]
async fn token_limits_are_validated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(tmp.path()).await;
    let handle = coordinator.handle();
    use drover_protocol::msg::{OperatorRequest, OperatorResponse};
    for request in [
        OperatorRequest::CreateToken {
            ttl_secs: 60,
            uses: 0,
        },
        OperatorRequest::CreateToken {
            ttl_secs: 0,
            uses: 1,
        },
    ] {
        assert!(matches!(
            handle.request(request).await,
            OperatorResponse::Error(_)
        ));
    }
    coordinator.stop().await;
}

/// The coordinator's record of agent `id`.
async fn listed(
    handle: &drover_coordinator::CoordinatorHandle,
    id: &drover_protocol::types::AgentId,
) -> drover_protocol::types::AgentInfo {
    let all = agents(handle).await;
    all.into_iter().find(|a| a.id == *id).expect("listed")
}

/// Labels asked for at join are fixed at enrollment, before the agent ever connects, and
/// are what `run` claims when none are configured; a token's own labels win over them.
#[tokio::test]
async fn labels_asked_for_at_join_are_fixed_unless_the_token_grants_its_own() {
    use drover_protocol::msg::{OperatorRequest, OperatorResponse};
    use drover_protocol::types::parse_labels;

    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let handle = coordinator.handle();
    let asked = parse_labels("role=serve,zone=eu").expect("labels");

    let dir = tmp.path().join("asked");
    let plain = token(&handle, 1, 60).await;
    let state = drover_agent::enroll::join_labelled(&plain, &dir, None, "node-a", &asked)
        .await
        .expect("joins");
    let joined = listed(&handle, &state.agent_id).await;
    assert_eq!(joined.labels, asked, "fixed at enrollment");
    assert!(joined.claimed.is_empty());
    let config = drover_agent::config::AgentConfig::resolve(drover_agent::config::AgentOverrides {
        state_dir: Some(dir.clone()),
        ..Default::default()
    })
    .expect("config");
    assert_eq!(config.labels, asked, "run claims the labels it joined with");

    let granted = parse_labels("role=train").expect("labels");
    let labelled = match handle
        .request(OperatorRequest::CreateLabelledToken {
            ttl_secs: 60,
            uses: 1,
            labels: granted.clone(),
        })
        .await
    {
        OperatorResponse::Token(t) => t.token,
        other => panic!("{other:?}"),
    };
    let state = drover_agent::enroll::join_labelled(
        &labelled,
        &tmp.path().join("overruled"),
        None,
        "node-b",
        &asked,
    )
    .await
    .expect("joins");
    let joined = listed(&handle, &state.agent_id).await;
    assert_eq!(joined.labels, granted, "the token's labels win");
    assert_eq!(joined.claimed, asked, "what it asked beyond them is shown");

    let bad = token(&handle, 1, 60).await;
    let malformed = parse_labels("role=serve").map(|mut l| {
        l.insert("bad key\u{1b}".into(), "x".into());
        l
    });
    let Err(err) = drover_agent::enroll::join_labelled(
        &bad,
        &tmp.path().join("bad"),
        None,
        "node-c",
        &malformed.expect("labels"),
    )
    .await
    else {
        panic!("malformed labels were accepted");
    };
    assert!(err.to_string().contains("labels"), "{err}");
    assert_nothing_stored(&tmp.path().join("bad"));
}
