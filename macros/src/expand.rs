//! The expansion: one wrapper around the function's body, as the crate docs show.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, Item, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::options::Options;

/// An argument recorded in the key: its name and how the body refers to it.
struct KeyArgument {
    name: String,
    /// `self` or the argument's identifier.
    value: TokenStream,
    /// Where a missing `Serialize` is reported: the argument's type.
    span: Span,
}

pub(crate) fn expand(options: Options, item: TokenStream) -> syn::Result<TokenStream> {
    let function = function(syn::parse2(item)?)?;
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "#[retrace::record] cannot record a `const fn`: values are recorded at run time",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "#[retrace::record] cannot record a variadic function",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && let Some(span) = impl_trait(ty.to_token_stream())
    {
        return Err(syn::Error::new(
            span,
            "#[retrace::record] replays the return value, so its type must be named: an \
             `impl Trait` return type cannot be recorded (for a future, make the function an \
             `async fn`)",
        ));
    }

    let key = key_arguments(&options, &function)?;
    if key.len() > MAX_ARGUMENTS {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!(
                "#[retrace::record] records at most {MAX_ARGUMENTS} arguments: skip some, or \
                 pass them in a struct"
            ),
        ));
    }
    check_err_display(&options, &sig.output)?;
    let name = match &options.name {
        Some(name) => name.clone(),
        None => syn::LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()),
    };
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    // The calls that need the types' bounds name the types as written (a missing bound
    // is reported at the type named) and each argument's reference is spanned at its
    // type (an argument that is not `Serialize` is reported there).
    let at = sig.ident.span();
    let call = Ident::new("__retrace_call", Span::mixed_site());
    // Not hygienic, so that its uses are reported in the user's code rather than at
    // the attribute; it is bound in the replay arm and after the body, where the body
    // cannot see it.
    let value = Ident::new("__retrace_value", at);
    let args = Ident::new(&format!("Args{}", key.len()), at);
    let names = key.iter().map(|k| &k.name);
    let values = key.iter().map(|k| {
        let value = &k.value;
        quote_spanned!(k.span=> &#value)
    });
    let key = quote_spanned!(at=> ::retrace::macro_support::#args([#(#names),*], #(#values),*));
    let support = quote_spanned!(at=> ::retrace::macro_support);
    let (begin, replayed, finish) = match (result_arguments(&sig.output), options.err_display) {
        (Some((ok, err)), None) => (
            quote_spanned!(at=> #support::begin_result::<#ok, #err>(#name, #key)),
            quote!(#value),
            quote_spanned!(at=> #support::finish_result::<#ok, #err>(#call, &#value)),
        ),
        (Some((ok, err)), Some(_)) => (
            quote_spanned!(at=> #support::begin_displayed::<#ok>(#name, #key)),
            quote_spanned!(at=> #support::from_displayed::<#ok, #err>(#value)),
            quote_spanned!(at=> #support::finish_displayed::<#ok, #err>(#call, &#value)),
        ),
        (None, None) => (
            quote_spanned!(at=> #support::begin::<#output>(#name, #key)),
            quote!(#value),
            quote_spanned!(at=> #support::finish::<#output>(#call, &#value)),
        ),
        // An alias such as `io::Result<T>`: the compiler finds `T` and `E`.
        (None, Some(_)) => {
            let infer = quote_spanned!(output.span()=> _);
            (
                quote_spanned!(at=> #support::begin_displayed::<#infer>(#name, #key)),
                quote_spanned!(at=> #support::from_displayed::<#infer, #infer>(#value)),
                quote_spanned!(at=> #support::finish_displayed::<#infer, #infer>(#call, &#value)),
            )
        }
    };
    let block = &function.block;
    let run = if sig.asyncness.is_some() {
        quote!(::retrace::macro_support::async_body::<#output, _>(&#call, async move #block).await)
    } else {
        quote!(::retrace::macro_support::sync_body::<#output>(&#call, move || -> #output #block))
    };

    let ItemFn {
        attrs, vis, sig, ..
    } = &function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let #call = match #begin {
                ::retrace::macro_support::Crossing::Replayed(#value) => return #replayed,
                ::retrace::macro_support::Crossing::Run(#call) => #call,
            };
            #[allow(clippy::let_unit_value)]
            let #value: #output = #run;
            #finish;
            #value
        }
    })
}

/// The most arguments a key holds (`macro_support::Args16`).
const MAX_ARGUMENTS: usize = 16;

/// The annotated function, or an error naming what was annotated instead.
fn function(item: Item) -> syn::Result<ItemFn> {
    let (what, span) = match item {
        Item::Fn(function) => return Ok(function),
        Item::Struct(i) => ("a struct", i.ident.span()),
        Item::Enum(i) => ("an enum", i.ident.span()),
        Item::Union(i) => ("a union", i.ident.span()),
        Item::Trait(i) => ("a trait", i.ident.span()),
        Item::Impl(i) => ("an impl block", i.impl_token.span),
        Item::Mod(i) => ("a module", i.ident.span()),
        Item::Const(i) => ("a constant", i.ident.span()),
        Item::Static(i) => ("a static", i.ident.span()),
        Item::Type(i) => ("a type alias", i.ident.span()),
        other => ("this item", other.span()),
    };
    let hint = if what == "an impl block" {
        ": annotate each method to record instead"
    } else {
        ""
    };
    Err(syn::Error::new(
        span,
        format!(
            "#[retrace::record] applies to functions and methods with a body, not to {what}{hint}"
        ),
    ))
}

/// The first `impl` keyword in a type.
fn impl_trait(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|t| match t {
        TokenTree::Ident(i) if i == "impl" => Some(i.span()),
        TokenTree::Group(g) => impl_trait(g.stream()),
        _ => None,
    })
}

/// The arguments recorded in the key, in order; checks `skip(...)` against them.
fn key_arguments(options: &Options, function: &ItemFn) -> syn::Result<Vec<KeyArgument>> {
    let mut names = Vec::new();
    let mut key = Vec::new();
    for input in &function.sig.inputs {
        let (name, value, span) = match input {
            FnArg::Receiver(receiver) => (
                "self".to_owned(),
                receiver.self_token.to_token_stream(),
                receiver.span(),
            ),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(p) if p.subpat.is_none() => {
                    let span = typed.ty.span();
                    let mut ident = p.ident.clone();
                    // Resolved as the argument, reported at its type.
                    ident.set_span(p.ident.span().located_at(span));
                    (p.ident.unraw().to_string(), ident.to_token_stream(), span)
                }
                pat if options.skip_all.is_none() => {
                    return Err(syn::Error::new(
                        pat.span(),
                        "#[retrace::record] records each argument under its name: bind this \
                         one to a name (`arg: Type`), or record no argument with `skip_all`",
                    ));
                }
                _ => continue,
            },
        };
        names.push(name.clone());
        if options.skip_all.is_none() && !options.skip.iter().any(|s| s.unraw() == name) {
            key.push(KeyArgument { name, value, span });
        }
    }
    for skipped in &options.skip {
        if !names.iter().any(|n| skipped.unraw() == n) {
            let has = if names.is_empty() {
                "it takes no arguments".to_owned()
            } else {
                format!("its arguments are {}", names.join(", "))
            };
            return Err(syn::Error::new(
                skipped.span(),
                format!(
                    "`skip({skipped})`: `{}` has no argument `{skipped}` ({has})",
                    function.sig.ident
                ),
            ));
        }
    }
    Ok(key)
}

/// `err = display` needs a function returning a `Result` (or an alias of one, such as
/// `io::Result<T>`: the compiler checks what it stands for).
fn check_err_display(options: &Options, output: &ReturnType) -> syn::Result<()> {
    let Some(option) = options.err_display else {
        return Ok(());
    };
    match output {
        ReturnType::Default => Err(syn::Error::new(
            option,
            format!("{NOT_A_RESULT}, and this function returns `()`"),
        )),
        ReturnType::Type(_, ty) if !is_result_like(ty) => Err(syn::Error::new(
            ty.span(),
            format!("{NOT_A_RESULT}: this return type is not a `Result`"),
        )),
        ReturnType::Type(..) => Ok(()),
    }
}

const NOT_A_RESULT: &str =
    "`err = display` records the error of a function returning `Result<T, E>`";

/// `T` and `E` of a return type written `Result<T, E>`.
fn result_arguments(output: &ReturnType) -> Option<(&Type, &Type)> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(ok), Some(err), None) if args.args.len() == 2 => Some((ok, err)),
        _ => None,
    }
}

/// A path type named like a result: `Result`, `io::Result<T>`, `DbResult<T>`.
fn is_result_like(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Result")),
        Type::Group(g) => is_result_like(&g.elem),
        Type::Paren(p) => is_result_like(&p.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn expanded(attr: TokenStream, item: TokenStream) -> String {
        let options = Options::parse(attr).expect("valid options");
        expand(options, item).expect("expands").to_string()
    }

    #[test]
    fn the_key_is_a_map_of_the_arguments_not_skipped() {
        let out = expanded(
            quote!(name = "users.by_email", skip(pool)),
            quote! {
                pub async fn by_email(pool: &Pool, email: &str) -> Result<User, DbError> {
                    pool.find(email).await
                }
            },
        );
        println!("{out}");
        assert!(out.contains(r#"Args1 (["email"] , & email)"#), "{out}");
        assert!(out.contains("begin_result :: < User , DbError >"), "{out}");
        assert!(!out.contains("move ||"), "{out}");
        assert!(out.contains("async move"), "{out}");
    }

    #[test]
    fn the_default_name_is_the_function_name() {
        let out = expanded(
            quote!(),
            quote!(
                fn r#type(&self, r#in: u8) -> u8 {
                    r#in
                }
            ),
        );
        println!("{out}");
        assert!(out.contains(r#"begin :: < u8 > ("type" ,"#), "{out}");
        assert!(
            out.contains(r#"Args2 (["self" , "in"] , & self , & r#in)"#),
            "{out}"
        );
        assert!(
            out.contains("sync_body :: < u8 > (& __retrace_call , move || -> u8 { r#in })"),
            "{out}"
        );
    }
}
