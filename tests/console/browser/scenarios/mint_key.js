// An admin mints an API key in the console: the key is shown once, on that page only; then
// screenshots of the providers and budgets pages.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill(args.name);
  await page.getByLabel("Role").selectOption("viewer");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByTestId("minted-key").inputValue();
  await shot(page, args, "api-keys");
  await page.goto(`${args.base}/app/admin/api-keys`);
  const listing = await page.getByTestId("api-keys").innerText();
  await page.goto(`${args.base}/app/admin/providers`);
  await page.locator("summary", { hasText: "OpenAI (openai)" }).first().click();
  await shot(page, args, "admin-providers");
  await page.goto(`${args.base}/app/admin/budgets`);
  await shot(page, args, "admin-budgets");
  return { key, listed: listing.includes(args.name), shownAgain: listing.includes(key) };
};
