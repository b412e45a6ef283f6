//! Migrations and repositories: each test runs on SQLite, and on PostgreSQL (ignored unless asked
//! for; `make ci` runs it).

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{LeaseError, LeaseRepository, ManualClock};
use castellan_migration::Migrator;
use castellan_persistence::on_both_backends;
use castellan_persistence::testing::{TestPostgres, Variant, require_backend};
use castellan_persistence::{Backend, Database, DatabaseOptions, SqlLeaseRepository};
use chrono::DateTime;

/// A fresh database: SQLite in a temporary directory, or a new PostgreSQL database (the guard
/// drops it afterwards).
async fn database(variant: Variant) -> (Database, Option<TestPostgres>, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    match variant {
        Variant::Embedded => {
            let sqlite = Database::connect(
                &format!("sqlite://{}/castellan.db", dir.path()),
                &DatabaseOptions::default(),
            )
            .await
            .unwrap();
            (sqlite, None, dir)
        }
        Variant::Production => {
            let postgres = TestPostgres::create().await.expect("DATABASE_URL is set");
            let database = Database::connect(&postgres.url, &DatabaseOptions::default())
                .await
                .unwrap();
            (database, Some(postgres), dir)
        }
    }
}

on_both_backends!(database =>
    migrations_go_up_down_and_up_again,
    a_lease_has_one_holder_until_it_lapses,
    user_search_matches_wildcards_literally,
    saml_connections_and_linked_identities_round_trip,
    custom_roles_holding_sso_write_get_sso_manage,
    federated_identities_resolve_to_accounts_and_memberships,
);

async fn migrations_go_up_down_and_up_again(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    let backend = db.backend();
    assert!(!db.is_migrated::<Migrator>().await.unwrap(), "{backend:?}");
    assert!(
        db.migration_status::<Migrator>()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );
    db.migrate_up::<Migrator>(None).await.unwrap();
    assert!(db.is_migrated::<Migrator>().await.unwrap(), "{backend:?}");
    let status = db.migration_status::<Migrator>().await.unwrap();
    assert!(
        !status.is_empty() && status.iter().all(|m| m.applied),
        "{backend:?}"
    );
    assert!(status[0].name.starts_with("m2026"), "{}", status[0].name);
    // Re-running is a no-op, not an error.
    db.migrate_up::<Migrator>(None).await.unwrap();
    let count = status.len() as u32;
    db.migrate_down::<Migrator>(Some(count)).await.unwrap();
    assert!(!db.is_migrated::<Migrator>().await.unwrap(), "{backend:?}");
    db.migrate_up::<Migrator>(None).await.unwrap();
    assert!(db.is_migrated::<Migrator>().await.unwrap(), "{backend:?}");
    db.ping().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs DATABASE_URL (make ci)"]
async fn replicas_migrating_at_once_all_succeed_production() {
    require_backend("DATABASE_URL");
    let postgres = TestPostgres::create().await.unwrap();
    let replicas = (0..4).map(|_| {
        let url = postgres.url.clone();
        tokio::spawn(async move {
            let db = Database::connect(&url, &DatabaseOptions::default())
                .await
                .unwrap();
            db.migrate_up::<Migrator>(None).await.unwrap();
            db.close().await.unwrap();
        })
    });
    for replica in replicas.collect::<Vec<_>>() {
        replica.await.unwrap();
    }
    let db = Database::connect(&postgres.url, &DatabaseOptions::default())
        .await
        .unwrap();
    assert!(db.is_migrated::<Migrator>().await.unwrap());
    db.close().await.unwrap();
}

async fn a_lease_has_one_holder_until_it_lapses(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    let backend = db.backend();
    db.migrate_up::<Migrator>(None).await.unwrap();
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    ));
    let leases = SqlLeaseRepository::new(db.clone(), clock.clone());
    let ttl = Duration::from_secs(30);
    assert!(
        leases
            .try_acquire("rotation", "replica-a", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    assert!(
        !leases
            .try_acquire("rotation", "replica-b", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    // The holder renews.
    clock.advance(Duration::from_secs(20));
    assert!(
        leases
            .try_acquire("rotation", "replica-a", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    clock.advance(Duration::from_secs(20));
    assert!(
        !leases
            .try_acquire("rotation", "replica-b", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    // Lapsed: another replica takes over.
    clock.advance(Duration::from_secs(10));
    assert!(
        leases
            .try_acquire("rotation", "replica-b", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    // Releasing someone else's lease does nothing; releasing one's own frees it.
    leases.release("rotation", "replica-a").await.unwrap();
    assert!(
        !leases
            .try_acquire("rotation", "replica-c", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    leases.release("rotation", "replica-b").await.unwrap();
    assert!(
        leases
            .try_acquire("rotation", "replica-c", ttl)
            .await
            .unwrap(),
        "{backend:?}"
    );
    let invalid = leases.try_acquire("", "replica-c", ttl).await.unwrap_err();
    assert!(
        matches!(invalid, LeaseError::Invalid("name")),
        "{backend:?}"
    );
    if backend == Backend::Postgres {
        racing_replicas_get_one_lease(&leases).await;
    }
}

async fn racing_replicas_get_one_lease(leases: &SqlLeaseRepository) {
    let racers = (0..8).map(|i| {
        let leases = leases.clone();
        tokio::spawn(async move {
            leases
                .try_acquire("race", &format!("replica-{i}"), Duration::from_secs(60))
                .await
                .unwrap()
        })
    });
    let mut winners = 0;
    for racer in racers.collect::<Vec<_>>() {
        if racer.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

mod tempdir {
    /// A directory under the system temp dir, removed on drop.
    #[derive(Debug)]
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir()
                .join(format!("castellan-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `_` and `%` in a user search are the characters themselves, not `LIKE` wildcards.
async fn user_search_matches_wildcards_literally(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    use castellan_domain::{Email, PlatformRole, User, UserId, UserQuery, UserRepository};
    use castellan_persistence::SqlUserRepository;
    db.migrate_up::<Migrator>(None).await.unwrap();
    let users = SqlUserRepository::new(db.clone());
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    for address in [
        "a_b@example.com",
        "axb@example.com",
        "100%@example.com",
        "1000@example.com",
    ] {
        users
            .create(&User {
                id: UserId::new(),
                email: Email::parse(address).unwrap(),
                first_name: None,
                last_name: None,
                email_verified: false,
                role: PlatformRole::User,
                password_hash: None,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
    }
    for (search, expected) in [("a_b", "a_b@example.com"), ("100%", "100%@example.com")] {
        let page = users
            .list(&UserQuery {
                page: 1,
                per_page: 10,
                search: Some(search.to_owned()),
                role: None,
                email_verified: None,
            })
            .await
            .unwrap();
        let found: Vec<&str> = page.users.iter().map(|user| user.email.as_str()).collect();
        assert_eq!(found, [expected], "{:?} searching {search}", db.backend());
    }
}

/// A SAML connection reads back as stored; a subject links once; deleting the connection takes
/// its links with it.
async fn saml_connections_and_linked_identities_round_trip(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    use castellan_domain::federation::{
        AttributeNames, FederatedIdentityStore, FederatedLink, GroupRole, RoleMapping,
        SamlConnectionRecord, SamlConnectionStore,
    };
    use castellan_domain::{
        DomainError, Email, Membership, Organization, OrganizationId, OrganizationPolicy,
        OrganizationStore, PlatformRole, User, UserId, UserRepository,
    };
    use castellan_persistence::{
        SqlFederationRepository, SqlOrganizationRepository, SqlUserRepository,
    };
    db.migrate_up::<Migrator>(None).await.unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let users = SqlUserRepository::new(db.clone());
    let user = User {
        id: UserId::new(),
        email: Email::parse("ada@example.com").unwrap(),
        first_name: None,
        last_name: None,
        email_verified: true,
        role: PlatformRole::User,
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    users.create(&user).await.unwrap();
    let organization = Organization {
        id: OrganizationId::new(),
        slug: "acme".to_owned(),
        name: "Acme".to_owned(),
        policy: OrganizationPolicy::default(),
        created_at: now,
        updated_at: now,
    };
    let owner = Membership {
        organization_id: organization.id,
        user_id: user.id,
        role: "owner".to_owned(),
        created_at: now,
    };
    SqlOrganizationRepository::new(db.clone())
        .create(&organization, &owner)
        .await
        .unwrap();
    let store = SqlFederationRepository::new(db.clone());
    let mut connection = SamlConnectionRecord {
        id: uuid::Uuid::now_v7(),
        organization_id: organization.id,
        provider: "okta".to_owned(),
        sp_entity_id: "https://id.example.com/sp".to_owned(),
        idp_entity_id: "http://www.okta.com/exk1".to_owned(),
        idp_sso_url: "https://acme.okta.com/app/sso/saml".to_owned(),
        idp_slo_url: None,
        idp_certificates: vec!["MIIB".to_owned(), "MIIC".to_owned()],
        idp_metadata_url: None,
        metadata_refreshed_at: None,
        signed_parts: "either".to_owned(),
        allow_unsolicited: false,
        name_id_format: "email_address".to_owned(),
        attributes: AttributeNames {
            email: "email".to_owned(),
            given_name: "firstName".to_owned(),
            family_name: "lastName".to_owned(),
            groups: "groups".to_owned(),
        },
        roles: RoleMapping {
            rules: vec![GroupRole {
                group: "admins".to_owned(),
                role: "admin".to_owned(),
            }],
            default_role: "member".to_owned(),
        },
        trust_email: false,
        enabled: true,
        sealed_sp_key: vec![1, 2, 3],
        sp_certificate: "-----BEGIN CERTIFICATE-----".to_owned(),
        created_at: now,
        updated_at: now,
    };
    store.create_connection(&connection).await.unwrap();
    assert_eq!(
        store.connection(connection.id).await.unwrap(),
        Some(connection.clone())
    );
    connection.enabled = false;
    connection.idp_certificates.pop();
    store.update_connection(&connection).await.unwrap();
    assert_eq!(
        store.connections(Some(organization.id)).await.unwrap(),
        [connection.clone()]
    );
    assert!(
        store
            .connections(Some(OrganizationId::new()))
            .await
            .unwrap()
            .is_empty()
    );

    let link = FederatedLink {
        id: uuid::Uuid::now_v7(),
        user_id: user.id,
        provider_id: connection.id,
        issuer: connection.idp_entity_id.clone(),
        subject: "ada@example.com".to_owned(),
        email: Some("ada@example.com".to_owned()),
        created_at: now,
        last_used_at: now,
    };
    store.link(&link).await.unwrap();
    let again = FederatedLink {
        id: uuid::Uuid::now_v7(),
        ..link.clone()
    };
    assert!(matches!(
        store.link(&again).await,
        Err(DomainError::Conflict(_))
    ));
    assert_eq!(
        store
            .find(connection.id, &link.issuer, &link.subject)
            .await
            .unwrap(),
        Some(link.clone())
    );
    assert_eq!(
        store
            .find(connection.id, &link.issuer, "other")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.links_of(user.id).await.unwrap(), vec![link.clone()]);

    assert!(store.delete_connection(connection.id).await.unwrap());
    assert!(store.links_of(user.id).await.unwrap().is_empty());
    assert_eq!(store.connection(connection.id).await.unwrap(), None);
    assert!(!store.delete_connection(connection.id).await.unwrap());
}

/// Migration 18 renames `sso:write` to `sso:manage` in stored custom roles, whole names only.
async fn custom_roles_holding_sso_write_get_sso_manage(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    use castellan_domain::{
        CustomRole, Email, Membership, Organization, OrganizationId, OrganizationPolicy,
        OrganizationStore, PlatformRole, RoleStore, User, UserId, UserRepository,
    };
    use castellan_persistence::{SqlOrganizationRepository, SqlUserRepository};
    db.migrate_up::<Migrator>(Some(17)).await.unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let user = User {
        id: UserId::new(),
        email: Email::parse("grace@example.com").unwrap(),
        first_name: None,
        last_name: None,
        email_verified: true,
        role: PlatformRole::User,
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    SqlUserRepository::new(db.clone())
        .create(&user)
        .await
        .unwrap();
    let organization = Organization {
        id: OrganizationId::new(),
        slug: "initech".to_owned(),
        name: "Initech".to_owned(),
        policy: OrganizationPolicy::default(),
        created_at: now,
        updated_at: now,
    };
    let organizations = SqlOrganizationRepository::new(db.clone());
    let owner = Membership {
        organization_id: organization.id,
        user_id: user.id,
        role: "owner".to_owned(),
        created_at: now,
    };
    organizations.create(&organization, &owner).await.unwrap();
    let role = |name: &str, permissions: &[&str]| CustomRole {
        id: uuid::Uuid::now_v7(),
        organization_id: organization.id,
        name: name.to_owned(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: now,
        updated_at: now,
    };
    let first = role("sso", &["sso:write"]);
    let middle = role("mixed", &["members:read", "sso:write", "audit:read"]);
    let none = role("plain", &["members:read"]);
    for custom in [&first, &middle, &none] {
        organizations.put_role(custom).await.unwrap();
    }
    db.migrate_up::<Migrator>(None).await.unwrap();
    let permissions = |id| {
        let organizations = organizations.clone();
        async move { organizations.role(id).await.unwrap().unwrap().permissions }
    };
    assert_eq!(permissions(first.id).await, ["sso:manage"]);
    assert_eq!(
        permissions(middle.id).await,
        ["members:read", "sso:manage", "audit:read"]
    );
    assert_eq!(permissions(none.id).await, ["members:read"]);
}

/// The domain's federation service on real storage: just-in-time provisioning with membership
/// and mapped role, the link reused, linking by a verified domain, and the refusal to take
/// over an account whose address the IdP does not vouch for.
async fn federated_identities_resolve_to_accounts_and_memberships(
    (db, _guard, _dir): (Database, Option<TestPostgres>, tempdir::Dir),
) {
    use castellan_domain::federation::{
        FederatedIdentity, FederationPorts, FederationService, FederationSource, GroupRole,
        Resolution, RoleMapping,
    };
    use castellan_domain::{
        AuthMethod, DomainError, DomainStore, Email, MembershipStore, Organization,
        OrganizationDomain, OrganizationId, OrganizationPolicy, OrganizationPorts,
        OrganizationServices, OrganizationStore, OrganizationWiring, PlatformRole, RequestContext,
        SystemRandom, User, UserId, UserRepository,
    };
    use castellan_persistence::{
        MemoryKeyValueStore, SqlAuditLog, SqlFederationRepository, SqlOrganizationRepository,
        SqlUserRepository,
    };
    db.migrate_up::<Migrator>(None).await.unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let users = Arc::new(SqlUserRepository::new(db.clone()));
    let store = Arc::new(SqlOrganizationRepository::new(db.clone()));
    let events = Arc::new(SqlAuditLog::new(db.clone()));
    let organizations = OrganizationServices::new(OrganizationWiring {
        ports: OrganizationPorts::on(store.clone()),
        users: users.clone(),
        kv: Arc::new(MemoryKeyValueStore::new(clock.clone())),
        events: events.clone(),
        clock: clock.clone(),
        random: Arc::new(SystemRandom),
        invitation_mail: None,
        dns: None,
    });
    let service = FederationService::new(FederationPorts {
        links: Arc::new(SqlFederationRepository::new(db.clone())),
        users: users.clone(),
        domains: store.clone(),
        memberships: store.clone(),
        access: organizations.access.clone(),
        events,
        clock: clock.clone(),
    });
    let account = |address: &str| User {
        id: UserId::new(),
        email: Email::parse(address).unwrap(),
        first_name: None,
        last_name: None,
        email_verified: false,
        role: PlatformRole::User,
        password_hash: Some("$argon2id$stored".to_owned()),
        created_at: now,
        updated_at: now,
    };
    let owner = account("owner@acme.example");
    users.create(&owner).await.unwrap();
    let acme = Organization {
        id: OrganizationId::new(),
        slug: "acme".to_owned(),
        name: "Acme".to_owned(),
        policy: OrganizationPolicy::default(),
        created_at: now,
        updated_at: now,
    };
    let ownership = castellan_domain::Membership {
        organization_id: acme.id,
        user_id: owner.id,
        role: "owner".to_owned(),
        created_at: now,
    };
    store.create(&acme, &ownership).await.unwrap();
    let source = FederationSource {
        provider_id: uuid::Uuid::now_v7(),
        method: AuthMethod::Saml,
        organization: Some(acme.id),
        trust_email: false,
        roles: RoleMapping {
            rules: vec![GroupRole {
                group: "admins".to_owned(),
                role: "admin".to_owned(),
            }],
            default_role: "viewer".to_owned(),
        },
    };
    let identity = |subject: &str, email: &str, groups: &[&str]| FederatedIdentity {
        issuer: "https://idp.acme.example".to_owned(),
        subject: subject.to_owned(),
        email: Some(email.to_owned()),
        email_verified: true,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..FederatedIdentity::default()
    };
    let context = RequestContext::default();

    // A new address: a new account without a password, a member with the mapped role.
    let ada = service
        .resolve(
            &source,
            &identity("ada", "ada@elsewhere.example", &["admins"]),
            &context,
        )
        .await
        .unwrap();
    assert_eq!(ada.how, Resolution::Provisioned);
    assert!(ada.user.password_hash.is_none());
    assert!(
        !ada.user.email_verified,
        "no verified domain, no trust: unverified"
    );
    let membership = store
        .membership(acme.id, ada.user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(membership.role, "admin");

    // The same subject again: the link, and the role follows the groups.
    let again = service
        .resolve(
            &source,
            &identity("ada", "changed@elsewhere.example", &[]),
            &context,
        )
        .await
        .unwrap();
    assert_eq!(
        (again.how, again.user.id),
        (Resolution::Linked, ada.user.id)
    );
    let membership = store
        .membership(acme.id, ada.user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(membership.role, "admin", "no rule matched: the role stays");

    // An existing account whose address the IdP does not vouch for is not taken over.
    let bob = account("bob@acme.example");
    users.create(&bob).await.unwrap();
    let refused = service
        .resolve(&source, &identity("bob", "bob@acme.example", &[]), &context)
        .await;
    assert!(
        matches!(refused, Err(DomainError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(store.membership(acme.id, bob.id).await.unwrap().is_none());

    // Once Acme verified acme.example, the address is vouched for: linked, verified, joined.
    let claim = OrganizationDomain {
        id: uuid::Uuid::now_v7(),
        organization_id: acme.id,
        domain: "acme.example".to_owned(),
        token: "t".repeat(32),
        verified_at: None,
        verified_by: None,
        created_at: now,
    };
    store.add_domain(&claim).await.unwrap();
    store
        .verify_domain(claim.id, "acme.example", now, "operator")
        .await
        .unwrap();
    let linked = service
        .resolve(&source, &identity("bob", "bob@acme.example", &[]), &context)
        .await
        .unwrap();
    assert_eq!(
        (linked.how, linked.user.id),
        (Resolution::LinkedByEmail, bob.id)
    );
    assert!(users.by_id(bob.id).await.unwrap().unwrap().email_verified);
    let membership = store.membership(acme.id, bob.id).await.unwrap().unwrap();
    assert_eq!(membership.role, "viewer");

    // The owner keeps the owner role whatever the groups say.
    let owner_link = service
        .resolve(
            &source,
            &identity("owner", "owner@acme.example", &["admins"]),
            &context,
        )
        .await
        .unwrap();
    assert_eq!(owner_link.user.id, owner.id);
    let membership = store.membership(acme.id, owner.id).await.unwrap().unwrap();
    assert_eq!(membership.role, "owner");
}
