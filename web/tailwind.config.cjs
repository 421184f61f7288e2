/** Tailwind scans the pages and scripts for the classes they use; the CSS is compiled at build time. */
module.exports = {
  content: ['./src/**/*.{html,js}'],
  theme: { extend: {} },
  plugins: [],
};
