global using LanguageExt;
