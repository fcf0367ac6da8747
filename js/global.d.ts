// esbuild bundles imported CSS into rt_widgets/static/widget.css; the import has no value.
declare module "*.css";
