//! The service: a small blogging API on PostgreSQL, written as a team would write it,
//! with `retrace_sqlx::` in front of its queries and `#[retrace::record]` on the two
//! functions whose answers depend on secrets a laptop does not have.
//!
//! - `POST /users` signs up (409 when the email is taken: the handler branches on the
//!   database's unique violation), `POST /users/login` returns a JWT signed with the
//!   key from the environment, expiring an hour after `retrace::now()`.
//! - `GET /articles?tag=&author=&limit=&offset=` pages through articles with their
//!   tags and favourite counts; `POST /articles` (signed in) writes an article and its
//!   tags in one transaction, its slug made unique with `retrace::random()`.
//! - `GET /articles/{slug}`, `POST /articles/{slug}/favourite`,
//!   `GET|POST /articles/{slug}/comments`: a comment is first sent to a moderation
//!   service through reqwest 0.12 (recorded by retrace-tower's middleware).
//! - `PUT|DELETE /articles/{slug}` (its author only), `DELETE
//!   /articles/{slug}/favourite`, `DELETE /articles/{slug}/comments/{id}` (the comment's
//!   author only), `GET /profiles/{username}`, `POST|DELETE /profiles/{username}/follow`.
//! - `GET /tags`: the popular tags, read by a repository function recorded as a whole
//!   with `#[retrace::record]`, the way any client without an adapter is recorded.

use std::time::{Duration, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use retrace::RecordedError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The schema. Run through sqlx directly, as migrations are: never recorded.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id BIGSERIAL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS articles (
        id BIGSERIAL PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        author_id BIGINT NOT NULL REFERENCES users (id),
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tags (
        article_id BIGINT NOT NULL REFERENCES articles (id),
        tag TEXT NOT NULL,
        PRIMARY KEY (article_id, tag))",
    "CREATE TABLE IF NOT EXISTS comments (
        id BIGSERIAL PRIMARY KEY,
        article_id BIGINT NOT NULL REFERENCES articles (id),
        author_id BIGINT NOT NULL REFERENCES users (id),
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS favourites (
        user_id BIGINT NOT NULL REFERENCES users (id),
        article_id BIGINT NOT NULL REFERENCES articles (id),
        PRIMARY KEY (user_id, article_id))",
    "CREATE TABLE IF NOT EXISTS follows (
        follower_id BIGINT NOT NULL REFERENCES users (id),
        followed_id BIGINT NOT NULL REFERENCES users (id),
        PRIMARY KEY (follower_id, followed_id))",
];

/// Creates the tables (idempotent).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    for ddl in SCHEMA {
        sqlx::query(ddl).execute(pool).await?;
    }
    Ok(())
}

/// What the service is configured with.
#[derive(Clone)]
pub struct Settings {
    /// The JWT signing key (`APP_JWT_SECRET` in `main`).
    pub jwt_secret: Vec<u8>,
    /// Where the moderation service is.
    pub moderation_url: String,
    /// Log-in matches the email case-insensitively (a change of one query's SQL).
    pub case_insensitive_login: bool,
}

/// The handlers' state.
#[derive(Clone)]
pub struct AppState {
    pool: PgPool,
    http: reqwest_middleware::ClientWithMiddleware,
    settings: Settings,
    keys: Keys,
}

#[derive(Clone)]
struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl AppState {
    /// The state over a pool (build it with `connect_lazy` to start without a
    /// database) and an HTTP client (with retrace's middleware).
    pub fn new(
        pool: PgPool,
        http: reqwest_middleware::ClientWithMiddleware,
        settings: Settings,
    ) -> Self {
        let keys = Keys {
            encoding: EncodingKey::from_secret(&settings.jwt_secret),
            decoding: DecodingKey::from_secret(&settings.jwt_secret),
        };
        Self {
            pool,
            http,
            settings,
            keys,
        }
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/users", post(sign_up))
        .route("/users/login", post(log_in))
        .route("/articles", get(list_articles).post(create_article))
        .route(
            "/articles/{slug}",
            get(article).put(update_article).delete(delete_article),
        )
        .route(
            "/articles/{slug}/favourite",
            post(favourite).delete(unfavourite),
        )
        .route("/articles/{slug}/comments", get(comments).post(comment))
        .route("/articles/{slug}/comments/{id}", delete(delete_comment))
        .route("/profiles/{username}", get(profile))
        .route("/profiles/{username}/follow", post(follow).delete(unfollow))
        .route("/tags", get(tags))
        .with_state(state)
}

/// An error answer: a status and a message.
#[derive(Debug)]
pub struct AppError(StatusCode, String);

impl AppError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::new(StatusCode::NOT_FOUND, "not found"),
            e => Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("database: {e}")),
        }
    }
}

/// A repository function recorded with `err = display` gives its error back through
/// this conversion in replay.
impl From<RecordedError> for AppError {
    fn from(e: RecordedError) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0, self.1)
    }
}

type Answer<T> = Result<T, AppError>;

fn epoch_seconds() -> i64 {
    retrace::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---- accounts -------------------------------------------------------------------

#[derive(Deserialize)]
struct SignUp {
    email: String,
    username: String,
    password: String,
}

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct Account {
    id: i64,
    email: String,
    username: String,
}

/// Argon2id with parameters light enough for an example's burst of sign-ups.
fn argon2() -> Argon2<'static> {
    let params = Params::new(4096, 1, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_password(password: &str) -> Answer<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Checks a password against its stored hash. Recorded: the stored hash is redacted in
/// the recorded row (its column is `password_hash`), so replay could not check it; the
/// arguments are redacted by their names too, and the answer replays.
#[retrace::record(name = "auth.verify_password")]
fn verify_password(password: &str, password_hash: &str) -> bool {
    PasswordHash::new(password_hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn sign_up(State(state): State<AppState>, Json(form): Json<SignUp>) -> Answer<Response> {
    if form.password.len() < 8 {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the password needs 8 characters or more",
        ));
    }
    let hash = hash_password(&form.password)?;
    let created: Result<Account, sqlx::Error> = retrace_sqlx::query_as(
        "INSERT INTO users (email, username, password_hash, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id, email, username",
    )
    .bind(&form.email)
    .bind(&form.username)
    .bind(&hash)
    .bind(epoch_seconds())
    .fetch_one(&state.pool)
    .await;
    match created {
        Ok(account) => Ok((StatusCode::CREATED, Json(json!({ "user": account }))).into_response()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let what = match e.constraint() {
                Some("users_username_key") => "username",
                _ => "email",
            };
            Err(AppError::new(
                StatusCode::CONFLICT,
                format!("that {what} is taken"),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct LogIn {
    email: String,
    password: String,
}

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct Credentials {
    id: i64,
    username: String,
    password_hash: String,
}

/// A signed-in user, as the token says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    sub: i64,
    username: String,
    exp: u64,
}

async fn log_in(State(state): State<AppState>, Json(form): Json<LogIn>) -> Answer<Json<Value>> {
    let sql = if state.settings.case_insensitive_login {
        "SELECT id, username, password_hash FROM users WHERE lower(email) = lower($1)"
    } else {
        "SELECT id, username, password_hash FROM users WHERE email = $1"
    };
    let found: Option<Credentials> = retrace_sqlx::query_as(sql)
        .bind(&form.email)
        .fetch_optional(&state.pool)
        .await?;
    let refused = || AppError::new(StatusCode::UNAUTHORIZED, "wrong email or password");
    let user = found.ok_or_else(refused)?;
    if !verify_password(&form.password, &user.password_hash) {
        return Err(refused());
    }
    let claims = Claims {
        sub: user.id,
        username: user.username,
        exp: (retrace::now() + Duration::from_secs(3600))
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let token = jsonwebtoken::encode(&Header::default(), &claims, &state.keys.encoding)
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(
        json!({ "token": token, "username": claims.username, "expires": claims.exp }),
    ))
}

/// Checks a token. Recorded: the token is redacted in the recorded request, and the
/// signing key is not on a laptop; the claims replay. Expiry is checked against
/// `retrace::now()`, so a replay a week later sees the token as it was.
#[retrace::record(name = "auth.verify_token", skip(keys))]
fn verify_token(keys: &Keys, token: &str) -> Result<Claims, String> {
    let mut validation = Validation::default();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    let now = retrace::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims.exp < now {
        return Err("the token has expired".to_owned());
    }
    Ok(claims)
}

/// The signed-in user: `Authorization: Bearer <token>`.
pub struct SignedIn(Claims);

impl<S> FromRequestParts<S> for SignedIn
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "sign in first"))?;
        verify_token(&state.keys, token)
            .map(SignedIn)
            .map_err(|e| AppError::new(StatusCode::UNAUTHORIZED, e))
    }
}

/// A request with no token is anonymous; one with a bad token is refused.
impl<S> axum::extract::OptionalFromRequestParts<S> for SignedIn
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, AppError> {
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            <Self as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

// ---- articles -------------------------------------------------------------------

#[derive(Deserialize)]
struct NewArticle {
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct ArticleRow {
    id: i64,
    slug: String,
    title: String,
    body: String,
    author: String,
    created_at: i64,
    tags: Vec<String>,
    favourites: i64,
}

const ARTICLE_COLUMNS: &str = "a.id, a.slug, a.title, a.body, u.username AS author, a.created_at, \
    COALESCE((SELECT array_agg(t.tag ORDER BY t.tag) FROM tags t WHERE t.article_id = a.id), \
             '{}') AS tags, \
    (SELECT count(*) FROM favourites f WHERE f.article_id = a.id) AS favourites";

fn slugify(title: &str) -> String {
    let words: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let suffix: u32 = retrace::random();
    format!("{}-{:06x}", words.join("-"), suffix & 0xff_ffff)
}

async fn create_article(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Json(new): Json<NewArticle>,
) -> Answer<Response> {
    if new.title.trim().is_empty() {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an article needs a title",
        ));
    }
    let slug = slugify(&new.title);
    let mut tx = retrace_sqlx::begin(&state.pool).await?;
    let id: i64 = retrace_sqlx::query_scalar(
        "INSERT INTO articles (slug, author_id, title, body, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&slug)
    .bind(user.sub)
    .bind(&new.title)
    .bind(&new.body)
    .bind(epoch_seconds())
    .fetch_one(&mut tx)
    .await?;
    for tag in &new.tags {
        retrace_sqlx::query(
            "INSERT INTO tags (article_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(tag.to_ascii_lowercase())
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await?;
    let article = load_article(&state.pool, &slug).await?;
    Ok((StatusCode::CREATED, Json(json!({ "article": article }))).into_response())
}

async fn load_article(pool: &PgPool, slug: &str) -> Answer<ArticleRow> {
    let sql = format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles a JOIN users u ON u.id = a.author_id \
         WHERE a.slug = $1"
    );
    retrace_sqlx::query_as(&sql)
        .bind(slug)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, format!("no article {slug}")))
}

async fn article(State(state): State<AppState>, Path(slug): Path<String>) -> Answer<Json<Value>> {
    let article = load_article(&state.pool, &slug).await?;
    Ok(Json(json!({ "article": article })))
}

#[derive(Deserialize)]
struct Page {
    tag: Option<String>,
    author: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    10
}

async fn list_articles(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Answer<Json<Value>> {
    if !(1..=50).contains(&page.limit) || page.offset < 0 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "limit is 1 to 50, offset 0 or more",
        ));
    }
    let filter = "($1::TEXT IS NULL OR EXISTS (SELECT 1 FROM tags t WHERE t.article_id = a.id \
                  AND t.tag = $1)) AND ($2::TEXT IS NULL OR u.username = $2)";
    let sql = format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles a JOIN users u ON u.id = a.author_id \
         WHERE {filter} ORDER BY a.id DESC LIMIT $3 OFFSET $4"
    );
    let articles: Vec<ArticleRow> = retrace_sqlx::query_as(&sql)
        .bind(&page.tag)
        .bind(&page.author)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&state.pool)
        .await?;
    let count_sql = format!(
        "SELECT count(*) FROM articles a JOIN users u ON u.id = a.author_id WHERE {filter}"
    );
    let total: i64 = retrace_sqlx::query_scalar(&count_sql)
        .bind(&page.tag)
        .bind(&page.author)
        .fetch_one(&state.pool)
        .await?;
    Ok(Json(json!({ "articles": articles, "total": total })))
}

async fn favourite(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Answer<Json<Value>> {
    let article = load_article(&state.pool, &slug).await?;
    let added = retrace_sqlx::query(
        "INSERT INTO favourites (user_id, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user.sub)
    .bind(article.id)
    .execute(&state.pool)
    .await?
    .rows_affected();
    let favourites = favourite_count(&state.pool, article.id).await?;
    Ok(Json(
        json!({ "slug": slug, "favourited": added == 1, "favourites": favourites }),
    ))
}

#[derive(Deserialize)]
struct ArticleChange {
    title: Option<String>,
    body: Option<String>,
}

/// The article at `slug` if `user` wrote it: 404 when there is none, 403 when another
/// user did.
async fn own_article(pool: &PgPool, user: &Claims, slug: &str) -> Answer<ArticleRow> {
    let article = load_article(pool, slug).await?;
    if article.author != user.username {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "only its author may change an article",
        ));
    }
    Ok(article)
}

async fn update_article(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Json(change): Json<ArticleChange>,
) -> Answer<Json<Value>> {
    let article = own_article(&state.pool, &user, &slug).await?;
    retrace_sqlx::query("UPDATE articles SET title = $1, body = $2 WHERE id = $3")
        .bind(change.title.as_deref().unwrap_or(&article.title))
        .bind(change.body.as_deref().unwrap_or(&article.body))
        .bind(article.id)
        .execute(&state.pool)
        .await?;
    let article = load_article(&state.pool, &slug).await?;
    Ok(Json(json!({ "article": article })))
}

async fn delete_article(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Answer<StatusCode> {
    let article = own_article(&state.pool, &user, &slug).await?;
    let mut tx = retrace_sqlx::begin(&state.pool).await?;
    for sql in [
        "DELETE FROM tags WHERE article_id = $1",
        "DELETE FROM favourites WHERE article_id = $1",
        "DELETE FROM comments WHERE article_id = $1",
        "DELETE FROM articles WHERE id = $1",
    ] {
        retrace_sqlx::query(sql)
            .bind(article.id)
            .execute(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unfavourite(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Answer<Json<Value>> {
    let article = load_article(&state.pool, &slug).await?;
    retrace_sqlx::query("DELETE FROM favourites WHERE user_id = $1 AND article_id = $2")
        .bind(user.sub)
        .bind(article.id)
        .execute(&state.pool)
        .await?;
    let favourites = favourite_count(&state.pool, article.id).await?;
    Ok(Json(
        json!({ "slug": slug, "favourited": false, "favourites": favourites }),
    ))
}

async fn favourite_count(pool: &PgPool, article_id: i64) -> Answer<i64> {
    Ok(
        retrace_sqlx::query_scalar("SELECT count(*) FROM favourites WHERE article_id = $1")
            .bind(article_id)
            .fetch_one(pool)
            .await?,
    )
}

// ---- profiles -------------------------------------------------------------------

/// A user's public profile, and whether `viewer` follows them.
async fn load_profile(pool: &PgPool, username: &str, viewer: Option<i64>) -> Answer<Value> {
    let found: Option<(i64, String, i64, bool)> = retrace_sqlx::query_as(
        "SELECT u.id, u.username, \
         (SELECT count(*) FROM follows f WHERE f.followed_id = u.id), \
         EXISTS (SELECT 1 FROM follows f WHERE f.followed_id = u.id AND f.follower_id = $2) \
         FROM users u WHERE u.username = $1",
    )
    .bind(username)
    .bind(viewer)
    .fetch_optional(pool)
    .await?;
    let (_, username, followers, following) =
        found.ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, format!("no user {username}")))?;
    Ok(
        json!({ "profile": { "username": username, "followers": followers, "following": following } }),
    )
}

async fn profile(
    State(state): State<AppState>,
    viewer: Option<SignedIn>,
    Path(username): Path<String>,
) -> Answer<Json<Value>> {
    let viewer = viewer.map(|SignedIn(claims)| claims.sub);
    Ok(Json(load_profile(&state.pool, &username, viewer).await?))
}

async fn user_id(pool: &PgPool, username: &str) -> Answer<i64> {
    retrace_sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, format!("no user {username}")))
}

async fn follow(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(username): Path<String>,
) -> Answer<Json<Value>> {
    let followed = user_id(&state.pool, &username).await?;
    if followed == user.sub {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "you cannot follow yourself",
        ));
    }
    retrace_sqlx::query(
        "INSERT INTO follows (follower_id, followed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user.sub)
    .bind(followed)
    .execute(&state.pool)
    .await?;
    Ok(Json(
        load_profile(&state.pool, &username, Some(user.sub)).await?,
    ))
}

async fn unfollow(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(username): Path<String>,
) -> Answer<Json<Value>> {
    let followed = user_id(&state.pool, &username).await?;
    retrace_sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2")
        .bind(user.sub)
        .bind(followed)
        .execute(&state.pool)
        .await?;
    Ok(Json(
        load_profile(&state.pool, &username, Some(user.sub)).await?,
    ))
}

// ---- comments -------------------------------------------------------------------

#[derive(Deserialize)]
struct NewComment {
    body: String,
}

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct CommentRow {
    id: i64,
    author: String,
    body: String,
    created_at: i64,
}

/// Asks the moderation service whether a comment may be published.
async fn moderate(state: &AppState, text: &str) -> Answer<bool> {
    let unavailable = |e: String| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("moderation unavailable: {e}"),
        )
    };
    let verdict: Value = state
        .http
        .post(format!("{}/v1/moderate", state.settings.moderation_url))
        .json(&json!({ "text": text }))
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .json()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    Ok(verdict["allowed"].as_bool().unwrap_or(false))
}

async fn comment(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Json(new): Json<NewComment>,
) -> Answer<Response> {
    let article = load_article(&state.pool, &slug).await?;
    if !moderate(&state, &new.body).await? {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the comment was refused by moderation",
        ));
    }
    let comment: CommentRow = retrace_sqlx::query_as(
        "WITH c AS (INSERT INTO comments (article_id, author_id, body, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id, author_id, body, created_at) \
         SELECT c.id, u.username AS author, c.body, c.created_at FROM c \
         JOIN users u ON u.id = c.author_id",
    )
    .bind(article.id)
    .bind(user.sub)
    .bind(&new.body)
    .bind(epoch_seconds())
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "comment": comment }))).into_response())
}

async fn delete_comment(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Answer<StatusCode> {
    let article = load_article(&state.pool, &slug).await?;
    let author: Option<i64> = retrace_sqlx::query_scalar(
        "SELECT author_id FROM comments WHERE id = $1 AND article_id = $2",
    )
    .bind(id)
    .bind(article.id)
    .fetch_optional(&state.pool)
    .await?;
    match author {
        None => Err(AppError::new(
            StatusCode::NOT_FOUND,
            format!("no comment {id}"),
        )),
        Some(author) if author != user.sub => Err(AppError::new(
            StatusCode::FORBIDDEN,
            "only its author may delete a comment",
        )),
        Some(_) => {
            retrace_sqlx::query("DELETE FROM comments WHERE id = $1")
                .bind(id)
                .execute(&state.pool)
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

async fn comments(State(state): State<AppState>, Path(slug): Path<String>) -> Answer<Json<Value>> {
    let article = load_article(&state.pool, &slug).await?;
    // Read as a stream, as a long thread would be.
    let comments: Vec<CommentRow> = retrace_sqlx::query_as(
        "SELECT c.id, u.username AS author, c.body, c.created_at FROM comments c \
         JOIN users u ON u.id = c.author_id WHERE c.article_id = $1 ORDER BY c.id",
    )
    .bind(article.id)
    .fetch(&state.pool)
    .try_collect()
    .await?;
    Ok(Json(json!({ "slug": slug, "comments": comments })))
}

// ---- tags: a repository function recorded whole ---------------------------------

/// The most used tags. Written with plain sqlx, as a repository over any client would
/// be, and recorded as a whole by `#[retrace::record]`: the pool is skipped, `limit`
/// is the key, the tags (or the error's text) are the answer.
#[retrace::record(name = "repo.popular_tags", skip(pool), err = display)]
async fn popular_tags(pool: &PgPool, limit: i64) -> Result<Vec<(String, i64)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

async fn tags(State(state): State<AppState>) -> Answer<Json<Value>> {
    let tags = popular_tags(&state.pool, 10).await?;
    Ok(Json(json!({
        "tags": tags.into_iter().map(|(tag, n)| json!({ "tag": tag, "articles": n })).collect::<Vec<_>>()
    })))
}
